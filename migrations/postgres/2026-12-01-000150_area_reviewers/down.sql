DROP TRIGGER areas_auth_changed ON areas;
