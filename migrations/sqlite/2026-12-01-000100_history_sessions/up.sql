-- Editing sessions are grouped from a POP's change log read newest first (src/db/history.rs).
-- The (pop_id, id) index becomes a covering one for that scan (SQLite has no INCLUDE: the columns
-- follow the key): grouping never reads the rows' old and new values, which can be large. It
-- replaces the plain index of the same leading columns, so a write still maintains one of them.
DROP INDEX popchangelog_pop_id_idx;
CREATE INDEX popchangelog_pop_id_idx ON pop_change_log
    (pop_id, id, user_id, action, field_name, autosave_sequence, created_at);
-- A field's history, and its value at a point in time (partial restore).
CREATE INDEX popchangelog_field_idx ON pop_change_log (pop_id, field_name, id);
