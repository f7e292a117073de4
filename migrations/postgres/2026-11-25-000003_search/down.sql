DROP INDEX pop_status_idx;
CREATE INDEX pop_status_idx ON pops (status);
DROP INDEX pop_document_idx;
DROP INDEX pop_search_idx;
ALTER TABLE pops DROP COLUMN document, DROP COLUMN search_vector;
DROP FUNCTION pop_document(text, text, text, text, text, text, text, text, text, jsonb, text, text, jsonb, jsonb, jsonb, jsonb, timestamptz, text, integer, uuid);
DROP FUNCTION pop_search_vector(text, text, text, text, jsonb);
DROP FUNCTION pop_step_descriptions(jsonb);
DROP FUNCTION mapagov_unaccent(text);
-- The unaccent extension stays: other objects of the database may use it.
