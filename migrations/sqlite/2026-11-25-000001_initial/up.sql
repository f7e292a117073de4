-- MapaGov initial schema (SQLite).
-- Same tables, columns and indexes as the PostgreSQL schema. Timestamps are RFC 3339 text in UTC
-- written by the application, JSON is text checked with json_valid, UUIDs are hyphenated text.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    legacy_id     BIGINT UNIQUE,
    username      TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 150),
    email         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '!',
    is_staff      BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser  BOOLEAN NOT NULL DEFAULT FALSE,
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    area_codigo   TEXT,
    created_at    TEXT NOT NULL,
    last_login_at TEXT
);

CREATE TABLE pops (
    id                      INTEGER PRIMARY KEY,
    uuid                    TEXT NOT NULL UNIQUE CHECK (length(uuid) = 36),
    legacy_id               BIGINT UNIQUE,
    session_id              TEXT,
    created_by_id           BIGINT REFERENCES users (id) ON DELETE SET NULL,
    nome_usuario            TEXT NOT NULL DEFAULT '',
    area_codigo             TEXT,
    area_nome               TEXT,
    macroprocesso           TEXT,
    codigo_processo         TEXT,
    nome_processo           TEXT,
    processo_especifico     TEXT,
    entrega_esperada        TEXT,
    dispositivos_normativos TEXT,
    sistemas_utilizados     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(sistemas_utilizados)),
    operadores              TEXT,
    pontos_atencao          TEXT,
    etapas                  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(etapas)),
    documentos_utilizados   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(documentos_utilizados)),
    fluxos_entrada          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(fluxos_entrada)),
    fluxos_saida            TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(fluxos_saida)),
    versao                  INTEGER NOT NULL DEFAULT 1 CHECK (versao >= 1),
    mes_ano                 TEXT,
    data_aprovacao          TEXT,
    status                  TEXT NOT NULL DEFAULT 'draft'
                            CHECK (status IN ('draft', 'in_review', 'published', 'archived')),
    is_completo             BOOLEAN NOT NULL DEFAULT FALSE,
    integrity_hash          TEXT NOT NULL,
    autosave_sequence       INTEGER NOT NULL DEFAULT 0 CHECK (autosave_sequence >= 0),
    raw_payload             TEXT CHECK (raw_payload IS NULL OR json_valid(raw_payload)),
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    last_autosave_at        TEXT,
    last_activity_at        TEXT NOT NULL,
    deleted_at              TEXT
);

CREATE INDEX pop_status_idx ON pops (status);
CREATE INDEX pop_session_status_idx ON pops (session_id, status);
CREATE INDEX pop_created_at_idx ON pops (created_at);
CREATE INDEX pop_created_by_idx ON pops (created_by_id);
CREATE INDEX pop_area_codigo_idx ON pops (area_codigo);

CREATE TABLE pop_snapshots (
    id                INTEGER PRIMARY KEY,
    legacy_id         BIGINT UNIQUE,
    pop_id            BIGINT NOT NULL REFERENCES pops (id) ON DELETE CASCADE,
    sequence          INTEGER NOT NULL CHECK (sequence >= 1),
    kind              TEXT NOT NULL
                      CHECK (kind IN ('autosave', 'backup', 'pre_restore', 'restore', 'status_change', 'import', 'manual')),
    versao            INTEGER NOT NULL,
    autosave_sequence INTEGER NOT NULL,
    status            TEXT NOT NULL,
    integrity_hash    TEXT NOT NULL,
    payload           TEXT NOT NULL CHECK (json_valid(payload)),
    milestone         BOOLEAN NOT NULL DEFAULT FALSE,
    milestone_label   TEXT CHECK (milestone_label IS NULL OR length(milestone_label) BETWEEN 1 AND 120),
    label             TEXT,
    created_by_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at        TEXT NOT NULL
);

CREATE UNIQUE INDEX popsnapshot_pop_id_sequence_idx ON pop_snapshots (pop_id, sequence);
CREATE INDEX popsnapshot_created_at_idx ON pop_snapshots (created_at);

CREATE TABLE pop_change_log (
    id                INTEGER PRIMARY KEY,
    legacy_id         BIGINT UNIQUE,
    pop_id            BIGINT NOT NULL REFERENCES pops (id) ON DELETE CASCADE,
    user_id           BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action            TEXT NOT NULL
                      CHECK (action IN ('create', 'autosave', 'restore', 'status', 'delete', 'import')),
    field_name        TEXT NOT NULL,
    old_value         TEXT CHECK (old_value IS NULL OR json_valid(old_value)),
    new_value         TEXT CHECK (new_value IS NULL OR json_valid(new_value)),
    autosave_sequence INTEGER NOT NULL,
    snapshot_id       BIGINT REFERENCES pop_snapshots (id) ON DELETE SET NULL,
    created_at        TEXT NOT NULL
);

CREATE INDEX popchangelog_pop_id_idx ON pop_change_log (pop_id, id);

CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL CHECK (json_valid(response)),
    created_at   TEXT NOT NULL
);
