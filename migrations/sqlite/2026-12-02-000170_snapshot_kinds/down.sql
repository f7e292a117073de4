-- The looser check again (see up.sql). Creating and dropping a table bumps the schema cookie, so
-- every connection reloads the definition edited below.
CREATE TABLE snapshot_kinds_reload (unused INTEGER);
DROP TABLE snapshot_kinds_reload;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql,
       'CHECK (kind IN (''autosave'', ''backup'', ''pre_restore'', ''status_change'', ''import''))',
       'CHECK (kind IN (''autosave'', ''backup'', ''pre_restore'', ''restore'', ''status_change'', ''import'', ''manual''))')
 WHERE type = 'table' AND name = 'pop_snapshots';
PRAGMA writable_schema = RESET;
