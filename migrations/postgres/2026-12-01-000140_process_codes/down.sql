DROP INDEX pops_live_cap_idx;
ALTER TABLE pops DROP COLUMN cap_duplicate;
