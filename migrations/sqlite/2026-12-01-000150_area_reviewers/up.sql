-- A reviewer of an area also reviews its sub-areas. On PostgreSQL this migration makes a change
-- to the area tree empty every process's token cache; SQLite has no token cache (one process, and
-- every request reads the user and the areas afresh), so there is nothing to do here. The file
-- exists so both backends hold the same migration versions.
SELECT 1;
