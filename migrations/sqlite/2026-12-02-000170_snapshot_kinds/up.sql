-- Snapshot kinds: the check allows exactly what the application writes (`SnapshotKind`). The
-- first schema also allowed `restore` and `manual`, which no version of MapaGov ever wrote.
--
-- A database holding either kind stops the migration here, with nothing changed: the guard's
-- check fails when the count it is given is not zero.
CREATE TABLE snapshots_of_kind_restore_or_manual (stored INTEGER CHECK (stored = 0));
INSERT INTO snapshots_of_kind_restore_or_manual
    SELECT count(*) FROM pop_snapshots WHERE kind IN ('restore', 'manual');
DROP TABLE snapshots_of_kind_restore_or_manual;

-- SQLite cannot alter a CHECK constraint: its text is edited in place, as in
-- 2026-12-01-000110_catalogue. Every stored row satisfies the stricter check (just verified), so
-- the database stays consistent; the guard's DDL above bumps the schema cookie, so every
-- connection reloads the new definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql,
       'CHECK (kind IN (''autosave'', ''backup'', ''pre_restore'', ''restore'', ''status_change'', ''import'', ''manual''))',
       'CHECK (kind IN (''autosave'', ''backup'', ''pre_restore'', ''status_change'', ''import''))')
 WHERE type = 'table' AND name = 'pop_snapshots';
PRAGMA writable_schema = RESET;

-- And the edit must have happened: a definition that no longer reads as the first schema wrote
-- it would leave the looser check in place without a word.
CREATE TABLE snapshot_kinds_check_still_loose (found INTEGER CHECK (found = 0));
INSERT INTO snapshot_kinds_check_still_loose
    SELECT count(*) FROM sqlite_schema
     WHERE type = 'table' AND name = 'pop_snapshots' AND sql LIKE '%''manual''%';
DROP TABLE snapshot_kinds_check_still_loose;
