DROP INDEX popchangelog_field_idx;
DROP INDEX popchangelog_pop_id_idx;
CREATE INDEX popchangelog_pop_id_idx ON pop_change_log (pop_id, id);
