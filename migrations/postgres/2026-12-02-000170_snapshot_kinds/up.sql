-- Snapshot kinds: the check allows exactly what the application writes (`SnapshotKind`). The
-- first schema also allowed `restore` and `manual`, which no version of MapaGov ever wrote. Adding
-- the constraint validates every stored row: a database holding either kind stops the migration
-- here, with nothing changed.
ALTER TABLE pop_snapshots DROP CONSTRAINT pop_snapshots_kind_check;
ALTER TABLE pop_snapshots ADD CONSTRAINT pop_snapshots_kind_check
    CHECK (kind IN ('autosave', 'backup', 'pre_restore', 'status_change', 'import'));
