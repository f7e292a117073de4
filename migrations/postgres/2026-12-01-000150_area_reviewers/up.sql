-- A reviewer of an area also reviews its sub-areas, and the server works that out when it
-- authenticates a token: a change to the area tree must empty every process's token cache, as a
-- change to a user does (see 2026-12-01-000120_auth_notify).
CREATE TRIGGER areas_auth_changed
    AFTER INSERT OR UPDATE OF codigo, parent_id OR DELETE OR TRUNCATE ON areas
    FOR EACH STATEMENT EXECUTE FUNCTION mapagov_auth_changed();
