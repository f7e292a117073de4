DROP TABLE pop_versions;
