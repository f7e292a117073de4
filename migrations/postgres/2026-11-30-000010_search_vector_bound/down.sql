CREATE OR REPLACE FUNCTION pop_search_vector(
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
