-- One canonical email per account, compared byte for byte: the default collation of 0001 is
-- accent- and case-insensitive and ignores trailing spaces, so `ádmin@x` found the row of
-- `admin@x`. VARBINARY compares bytes (no padding rules either). The application writes and
-- looks up only canonical keys (ASCII, trimmed, lowercased), so the stored keys stay the same.
-- 1280 bytes hold the 320 characters of the old column in any UTF-8. Nothing reads the column
-- back (sqlx would see VARBINARY as bytes); it is only compared.

ALTER TABLE users MODIFY email_key VARBINARY(1280) NOT NULL;
