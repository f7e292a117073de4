-- Every change that could revoke an authenticated token notifies `mapagov_auth`, whoever makes it
-- (a server process, `mapagov user`, psql): each server process empties its token cache when it
-- hears one (src/auth/cache.rs). Statement-level, so a bulk change notifies once. Only the
-- columns authentication reads notify: a token's `last_used_at` (written as it is used) and a
-- user's `last_login_at` (written at every login) do not.
CREATE FUNCTION mapagov_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mapagov_auth', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_auth_changed
    AFTER UPDATE OF revoked_at, user_id, token_hash, created_at OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION mapagov_auth_changed();

CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF id, username, is_active, is_staff, area_codigo OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION mapagov_auth_changed();
