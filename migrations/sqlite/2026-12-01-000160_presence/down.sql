DROP TABLE pop_presence;
