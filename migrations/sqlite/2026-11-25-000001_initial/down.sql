DROP TABLE idempotency_keys;
DROP TABLE pop_change_log;
DROP TABLE pop_snapshots;
DROP TABLE pops;
DROP TABLE users;
