-- Who has a POP open right now: one row per person and browser tab (`client_id`), refreshed by
-- the tab's heartbeats (`heartbeatPop`) and removed when it leaves (`leavePop`) or when its last
-- heartbeat is older than `PRESENCE_TTL` (a tab that went away without saying so). Every server
-- process reads and writes the same rows, so presence holds across instances.
CREATE TABLE pop_presence (
    pop_id     BIGINT NOT NULL REFERENCES pops (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (pop_id, user_id, client_id)
);
-- users.id cascades here: without an index, deleting a user scans every row.
CREATE INDEX pop_presence_user_id_idx ON pop_presence (user_id);
