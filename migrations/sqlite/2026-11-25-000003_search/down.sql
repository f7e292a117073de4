DROP INDEX pop_status_idx;
CREATE INDEX pop_status_idx ON pops (status);
DROP TRIGGER pops_fts_delete;
DROP TRIGGER pops_fts_update;
DROP TRIGGER pops_fts_insert;
DROP TABLE pops_fts;
ALTER TABLE pops DROP COLUMN document;
