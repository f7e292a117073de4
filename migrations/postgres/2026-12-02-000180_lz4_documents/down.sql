-- Back to the server's default compression (pglz unless `default_toast_compression` says
-- otherwise) for values written from now on; values stored with lz4 stay readable.
DO $$
DECLARE
    col record;
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RETURN;
    END IF;
    FOR col IN
        SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = current_schema()
           AND table_name IN ('pops', 'pop_snapshots', 'pop_change_log', 'pop_versions',
                              'pop_events', 'idempotency_keys')
           AND udt_name IN ('jsonb', 'text', 'tsvector')
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET COMPRESSION DEFAULT',
                       col.table_name, col.column_name);
    END LOOP;
END $$;
