-- PostgreSQL notifies server processes of token and user changes (its migration of the same
-- version). SQLite has no notifications and no token cache: nothing to do.
SELECT 1;
