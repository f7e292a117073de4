-- PostgreSQL bounds the text its search_vector indexes (a tsvector holds at most 1 MiB);
-- SQLite's FTS5 has no such limit, so nothing changes here. The migration exists so that both
-- backends have the same list of versions.
SELECT 1;
