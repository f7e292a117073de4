-- Publication and the catalogue (issue 18).

-- A POP of `versao` 0 is a clone never published (the later Django versions make them): it is
-- kept as it is, so its document and hash stay those of the source.
--
-- SQLite cannot alter a CHECK constraint. Rebuilding `pops` would have to restate every column
-- (including those other migrations add) and its triggers, so the constraint's text is edited in
-- place instead: the procedure SQLite documents for loosening constraints ("ALTER TABLE: making
-- other kinds of table schema changes"), safe because every stored row satisfies the looser check
-- and the file format does not change. The DDL below bumps the schema cookie, so every connection
-- reloads the new definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (versao >= 1)', 'CHECK (versao >= 0)')
 WHERE type = 'table' AND name = 'pops';
PRAGMA writable_schema = RESET;

-- Areas (the Django `processos_area`): the units POPs belong to (by `pops.area_codigo`, the code
-- the legacy document carries as `area.codigo`) and reviewers review. A sub-area names its parent.
CREATE TABLE areas (
    id          INTEGER PRIMARY KEY,
    legacy_id   BIGINT UNIQUE,
    codigo      TEXT NOT NULL UNIQUE CHECK (length(codigo) BETWEEN 1 AND 20),
    nome        TEXT NOT NULL CHECK (length(nome) >= 1),
    nome_curto  TEXT NOT NULL DEFAULT '',
    slug        TEXT NOT NULL UNIQUE CHECK (length(slug) >= 1),
    prefixo     TEXT CHECK (prefixo IS NULL OR (length(prefixo) = 2 AND prefixo GLOB '[0-9][0-9]')),
    ordem       INTEGER NOT NULL DEFAULT 0,
    ativo       BOOLEAN NOT NULL DEFAULT TRUE,
    descricao   TEXT NOT NULL DEFAULT '',
    parent_id   BIGINT REFERENCES areas (id) DEFERRABLE INITIALLY DEFERRED CHECK (parent_id <> id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX areas_parent_id_idx ON areas (parent_id);
