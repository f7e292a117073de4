DROP INDEX popchangelog_field_idx;
DROP INDEX popchangelog_session_idx;
