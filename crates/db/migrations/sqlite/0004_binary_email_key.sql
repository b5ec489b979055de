-- One canonical email per account, compared byte for byte: SQLite's default BINARY collation
-- already does, so there is nothing to change (the file keeps the versions of the three engines
-- in step).

SELECT 1;
