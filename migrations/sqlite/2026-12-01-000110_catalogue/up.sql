-- Publication and the catalogue (issue 18).

-- A POP of `versao` 0 is a clone never published (the later Django versions make them): it is
-- kept as it is, so its document and hash stay those of the source.
--
-- SQLite cannot alter a CHECK constraint. Rebuilding `pops` would have to restate every column
-- (including those other migrations add) and its triggers, so the constraint's text is edited in
-- place instead: the procedure SQLite documents for loosening constraints ("ALTER TABLE: making
-- other kinds of table schema changes"), safe because every stored row satisfies the looser check
-- and the file format does not change. The DDL below bumps the schema cookie, so every connection
-- reloads the new definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (versao >= 1)', 'CHECK (versao >= 0)')
 WHERE type = 'table' AND name = 'pops';
PRAGMA writable_schema = RESET;
