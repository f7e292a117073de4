-- Editing sessions are grouped from a POP's change log read newest first (src/db/history.rs).
-- This index covers that scan: grouping never reads the rows' old and new values, which can be
-- large. It also serves a field's history at a point in time (partial restore).
CREATE INDEX popchangelog_session_idx ON pop_change_log
    (pop_id, id, user_id, action, field_name, autosave_sequence, created_at);
CREATE INDEX popchangelog_field_idx ON pop_change_log (pop_id, field_name, id);
