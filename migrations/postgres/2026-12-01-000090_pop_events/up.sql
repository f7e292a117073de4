-- One row per accepted write of a POP (every bump of its autosave sequence), read by the
-- `popChanged` subscription: to replay what a subscriber missed, and by every server process when
-- a NOTIFY on `mapagov_pop_events` (sent in the same transaction) says a POP has new rows.
CREATE TABLE pop_events (
    id              BIGSERIAL PRIMARY KEY,
    pop_id          BIGINT NOT NULL REFERENCES pops (id) ON DELETE CASCADE,
    sequence        INTEGER NOT NULL,
    integrity_hash  TEXT NOT NULL,
    user_id         BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action          TEXT NOT NULL,
    paths           JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (pop_id, sequence)
);
-- users.id is ON DELETE SET NULL here: without an index, deleting a user scans every event.
CREATE INDEX pop_events_user_id_idx ON pop_events (user_id);
