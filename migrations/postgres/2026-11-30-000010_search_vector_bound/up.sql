-- A tsvector holds at most 1 MiB of lexeme text: about 1 MB of distinct words made every write
-- of such a POP fail ("string is too long for tsvector"), although MAX_DOCUMENT_BYTES allows
-- 2 MiB and SQLite's FTS5 has no such limit. Search now indexes the first 50,000 characters of
-- each weighted part (process name; deliverable; legal basis with points of attention; step
-- descriptions): four parts of 50,000 characters stay under the limit even at four bytes a
-- character and with unaccent's expansions, so the write never fails, and POPs keep their whole
-- text; only words past that point are not found by search.
--
-- Replacing the function keeps the generated column and its index; rows already stored were
-- computed without error and need no change.
CREATE OR REPLACE FUNCTION pop_search_vector(
    nome_processo text,
    entrega_esperada text,
    dispositivos_normativos text,
    pontos_atencao text,
    etapas jsonb
) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('pg_catalog.portuguese', mapagov_unaccent(left(coalesce(nome_processo, ''), 50000))), 'A')
        || setweight(to_tsvector('pg_catalog.portuguese', mapagov_unaccent(left(coalesce(entrega_esperada, ''), 50000))), 'B')
        || setweight(to_tsvector('pg_catalog.portuguese', mapagov_unaccent(left(
               coalesce(dispositivos_normativos, '') || ' ' || coalesce(pontos_atencao, ''), 50000))), 'C')
        || setweight(to_tsvector('pg_catalog.portuguese', mapagov_unaccent(left(pop_step_descriptions(etapas), 50000))), 'D');
