-- Full-text search and JSON containment over POPs (PostgreSQL).
--
-- Both are generated columns computed by the database from the stored columns, so every writer
-- (GraphQL mutations, import-django, load, copy) keeps them current without knowing about them,
-- and dumps, loads and checksums (which name their columns) never see them.

-- unaccent is a trusted contrib extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;

-- unaccent() is only STABLE (it looks its dictionary up through search_path); naming the
-- dictionary explicitly makes the result depend on the input alone, so it may be IMMUTABLE and
-- used in a generated column and an index. The SQL-standard body is bound at creation time.
CREATE FUNCTION mapagov_unaccent(input text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN public.unaccent('public.unaccent'::regdictionary, input);

-- The descriptions of a POP's steps (`etapas[*].descricao`), space-separated; '' if none.
CREATE FUNCTION pop_step_descriptions(etapas jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (
        SELECT coalesce(string_agg(step ->> 'descricao', ' '), '')
        FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(etapas) = 'array' THEN etapas ELSE '[]'::jsonb END
        ) AS step
    );

-- The searchable text of a POP, accents removed, Portuguese stemming, weighted for ranking:
-- A process name, B expected deliverable, C legal basis and points of attention, D steps.
CREATE FUNCTION pop_search_vector(
    nome_processo text,
    entrega_esperada text,
    dispositivos_normativos text,
    pontos_atencao text,
    etapas jsonb
) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('pg_catalog.portuguese', mapagov_unaccent(coalesce(nome_processo, ''))), 'A')
        || setweight(to_tsvector('pg_catalog.portuguese', mapagov_unaccent(coalesce(entrega_esperada, ''))), 'B')
        || setweight(to_tsvector('pg_catalog.portuguese', mapagov_unaccent(
               coalesce(dispositivos_normativos, '') || ' ' || coalesce(pontos_atencao, ''))), 'C')
        || setweight(to_tsvector('pg_catalog.portuguese', mapagov_unaccent(pop_step_descriptions(etapas))), 'D');

-- The legacy document, exactly as src/domain/document.rs builds it (the `document` field).
-- jsonb_build_object and to_char are STABLE only because of types and formats not used here:
-- with text, jsonb and integer values and a numeric-only format of a UTC timestamp, the result
-- depends on the arguments alone.
CREATE FUNCTION pop_document(
    nome_usuario text, area_codigo text, area_nome text, macroprocesso text,
    codigo_processo text, nome_processo text, processo_especifico text, entrega_esperada text,
    dispositivos_normativos text, sistemas_utilizados jsonb, operadores text,
    pontos_atencao text, etapas jsonb, documentos_utilizados jsonb, fluxos_entrada jsonb,
    fluxos_saida jsonb, created_at timestamptz, status text, versao integer, uuid uuid
) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN jsonb_build_object(
        'nome_usuario', nome_usuario,
        'area', jsonb_build_object('codigo', area_codigo, 'nome', area_nome),
        'macroprocesso', macroprocesso,
        'codigo_processo', codigo_processo,
        'nome_processo', nome_processo,
        'processo_especifico', processo_especifico,
        'entrega_esperada', entrega_esperada,
        'dispositivos_normativos', dispositivos_normativos,
        'sistemas', sistemas_utilizados,
        'operadores', operadores,
        'pontos_atencao', pontos_atencao,
        'etapas', etapas,
        'documentos_utilizados', documentos_utilizados,
        'fluxos_entrada', fluxos_entrada,
        'fluxos_saida', fluxos_saida,
        'data_criacao', to_char(created_at AT TIME ZONE 'UTC', 'DD/MM/YYYY HH24:MI'),
        'status', status,
        'versao', versao,
        'uuid', uuid::text
    );

ALTER TABLE pops
    ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        pop_search_vector(nome_processo, entrega_esperada, dispositivos_normativos, pontos_atencao, etapas)
    ) STORED,
    ADD COLUMN document jsonb GENERATED ALWAYS AS (
        pop_document(nome_usuario, area_codigo, area_nome, macroprocesso, codigo_processo,
                     nome_processo, processo_especifico, entrega_esperada, dispositivos_normativos,
                     sistemas_utilizados, operadores, pontos_atencao, etapas, documentos_utilizados,
                     fluxos_entrada, fluxos_saida, created_at, status, versao, uuid)
    ) STORED;

CREATE INDEX pop_search_idx ON pops USING GIN (search_vector);
-- jsonb_path_ops: smaller and faster than the default operator class, and serves @> (all we use).
CREATE INDEX pop_document_idx ON pops USING GIN (document jsonb_path_ops);

-- POPs by status, newest first (`pops(status:)`): with the id in the key the page is a range scan
-- in index order instead of a sort, or of a backward walk of the primary key filtering on status
-- (which the planner picks at realistic sizes with the status-only index). Same name as the
-- migration guide's index, which it replaces (it serves every lookup the old one did).
DROP INDEX pop_status_idx;
CREATE INDEX pop_status_idx ON pops (status, id);
