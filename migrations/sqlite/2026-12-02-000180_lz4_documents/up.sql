-- The PostgreSQL migration of this version sets lz4 compression on the document columns.
-- SQLite does not compress values: nothing to do here.
SELECT 1;
