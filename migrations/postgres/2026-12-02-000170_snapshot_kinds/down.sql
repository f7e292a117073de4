ALTER TABLE pop_snapshots DROP CONSTRAINT pop_snapshots_kind_check;
ALTER TABLE pop_snapshots ADD CONSTRAINT pop_snapshots_kind_check
    CHECK (kind IN ('autosave', 'backup', 'pre_restore', 'restore', 'status_change', 'import', 'manual'));
