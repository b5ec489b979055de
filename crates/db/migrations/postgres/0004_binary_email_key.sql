-- One canonical email per account, compared byte for byte: the "C" collation makes that
-- explicit, whatever the database's default collation is. The application writes and looks up
-- only canonical keys (ASCII, trimmed, lowercased), so the stored keys stay the same.

ALTER TABLE users ALTER COLUMN email_key TYPE TEXT COLLATE "C";
