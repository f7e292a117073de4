DROP TRIGGER users_auth_changed ON users;
DROP TRIGGER api_tokens_auth_changed ON api_tokens;
DROP FUNCTION mapagov_auth_changed();
