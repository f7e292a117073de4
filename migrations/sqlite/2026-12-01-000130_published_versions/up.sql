-- Published versions (the Django `processos_popversion`): publishing a POP freezes its document
-- here, with its hash, number, publisher, time and reason. A row never changes once written,
-- except `is_current` (the version the catalogue answers for its POP, at most one per POP) and a
-- publisher set to NULL when that user is deleted; the trigger below refuses any other update,
-- whoever makes it.
CREATE TABLE pop_versions (
    id               INTEGER PRIMARY KEY,
    legacy_id        BIGINT UNIQUE,
    pop_id           BIGINT NOT NULL REFERENCES pops (id) ON DELETE CASCADE,
    versao           INTEGER NOT NULL CHECK (versao >= 1),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    integrity_hash   TEXT NOT NULL CHECK (length(integrity_hash) = 64
                                          AND integrity_hash NOT GLOB '*[^0-9a-f]*'),
    published_by_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    published_at     TEXT NOT NULL,
    motivo           TEXT NOT NULL DEFAULT '',
    is_current       BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (pop_id, versao)
);
CREATE UNIQUE INDEX pop_versions_one_current_idx ON pop_versions (pop_id) WHERE is_current;
CREATE INDEX pop_versions_published_by_id_idx ON pop_versions (published_by_id);

CREATE TRIGGER pop_versions_frozen BEFORE UPDATE ON pop_versions
    WHEN NEW.id IS NOT OLD.id OR NEW.legacy_id IS NOT OLD.legacy_id
      OR NEW.pop_id IS NOT OLD.pop_id OR NEW.versao IS NOT OLD.versao
      OR NEW.payload IS NOT OLD.payload OR NEW.integrity_hash IS NOT OLD.integrity_hash
      OR NEW.published_at IS NOT OLD.published_at OR NEW.motivo IS NOT OLD.motivo
      OR (NEW.published_by_id IS NOT OLD.published_by_id AND NEW.published_by_id IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'a published version is immutable');
END;

-- POPs published before versions were stored: their current document is their version in force,
-- frozen now (publisher unknown; the time is their last write).
INSERT INTO pop_versions (pop_id, versao, payload, integrity_hash, published_at, is_current)
SELECT id, versao, document, integrity_hash, updated_at, TRUE
  FROM pops
 WHERE status = 'published' AND deleted_at IS NULL AND versao >= 1;
