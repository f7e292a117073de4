-- Full-text search and JSON containment over POPs (SQLite).
--
-- Derived data the database maintains itself, so every writer (GraphQL mutations, import-django,
-- load, copy) keeps it current, and dumps, loads and checksums (which name their columns) never
-- see it: an FTS5 index kept by triggers, and the document as a virtual generated column.

-- The legacy document, exactly as src/domain/document.rs builds it (the `document` field).
ALTER TABLE pops ADD COLUMN document TEXT GENERATED ALWAYS AS (json_object(
    'nome_usuario', nome_usuario,
    'area', json_object('codigo', area_codigo, 'nome', area_nome),
    'macroprocesso', macroprocesso,
    'codigo_processo', codigo_processo,
    'nome_processo', nome_processo,
    'processo_especifico', processo_especifico,
    'entrega_esperada', entrega_esperada,
    'dispositivos_normativos', dispositivos_normativos,
    'sistemas', json(sistemas_utilizados),
    'operadores', operadores,
    'pontos_atencao', pontos_atencao,
    'etapas', json(etapas),
    'documentos_utilizados', json(documentos_utilizados),
    'fluxos_entrada', json(fluxos_entrada),
    'fluxos_saida', json(fluxos_saida),
    'data_criacao', strftime('%d/%m/%Y %H:%M', created_at),
    'status', status,
    'versao', versao,
    'uuid', uuid
)) VIRTUAL;

-- The searchable text, one row per POP (rowid = pops.id); accents folded, no stemming.
CREATE VIRTUAL TABLE pops_fts USING fts5(
    nome_processo,
    entrega_esperada,
    dispositivos_normativos,
    pontos_atencao,
    etapas,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER pops_fts_insert AFTER INSERT ON pops BEGIN
    INSERT INTO pops_fts (rowid, nome_processo, entrega_esperada, dispositivos_normativos, pontos_atencao, etapas)
    VALUES (NEW.id, NEW.nome_processo, NEW.entrega_esperada, NEW.dispositivos_normativos, NEW.pontos_atencao,
            (SELECT group_concat(json_extract(value, '$.descricao'), ' ') FROM json_each(NEW.etapas) WHERE type = 'object'));
END;

CREATE TRIGGER pops_fts_update
AFTER UPDATE OF id, nome_processo, entrega_esperada, dispositivos_normativos, pontos_atencao, etapas ON pops BEGIN
    DELETE FROM pops_fts WHERE rowid = OLD.id;
    INSERT INTO pops_fts (rowid, nome_processo, entrega_esperada, dispositivos_normativos, pontos_atencao, etapas)
    VALUES (NEW.id, NEW.nome_processo, NEW.entrega_esperada, NEW.dispositivos_normativos, NEW.pontos_atencao,
            (SELECT group_concat(json_extract(value, '$.descricao'), ' ') FROM json_each(NEW.etapas) WHERE type = 'object'));
END;

CREATE TRIGGER pops_fts_delete AFTER DELETE ON pops BEGIN
    DELETE FROM pops_fts WHERE rowid = OLD.id;
END;

INSERT INTO pops_fts (rowid, nome_processo, entrega_esperada, dispositivos_normativos, pontos_atencao, etapas)
SELECT id, nome_processo, entrega_esperada, dispositivos_normativos, pontos_atencao,
       (SELECT group_concat(json_extract(value, '$.descricao'), ' ') FROM json_each(pops.etapas) WHERE type = 'object')
FROM pops;

-- POPs by status, newest first (`pops(status:)`): with the id in the key the page is a range scan
-- in index order instead of a sort, or of a backward walk of the primary key filtering on status
-- (which the planner picks at realistic sizes with the status-only index). Same name as the
-- migration guide's index, which it replaces (it serves every lookup the old one did).
DROP INDEX pop_status_idx;
CREATE INDEX pop_status_idx ON pops (status, id);
