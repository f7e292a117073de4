DROP TABLE pop_versions;
DROP FUNCTION pop_versions_frozen();
