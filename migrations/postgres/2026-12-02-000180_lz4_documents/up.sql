-- Documents are compressed with lz4 instead of PostgreSQL's default pglz: every column of a
-- document table that PostgreSQL may compress (JSONB, TEXT, TSVECTOR). Every autosave writes
-- several ~6 KB values (the POP's steps and generated document, the change log's old and new
-- values, the snapshot); lz4 compresses them for less CPU and reads them back faster, for a
-- few percent more bytes.
--
-- lz4 needs PostgreSQL 14 or later built with it (the Debian, Ubuntu, Red Hat and official
-- Docker builds are); elsewhere this migration changes nothing. Only values written from now on
-- use it: stored ones stay as they are and read as before.
DO $$
DECLARE
    col record;
BEGIN
    IF current_setting('server_version_num')::int < 140000
       OR NOT EXISTS (SELECT 1 FROM pg_settings
                       WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        RETURN;
    END IF;
    FOR col IN
        SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = current_schema()
           AND table_name IN ('pops', 'pop_snapshots', 'pop_change_log', 'pop_versions',
                              'pop_events', 'idempotency_keys')
           AND udt_name IN ('jsonb', 'text', 'tsvector')
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET COMPRESSION lz4',
                       col.table_name, col.column_name);
    END LOOP;
END $$;
