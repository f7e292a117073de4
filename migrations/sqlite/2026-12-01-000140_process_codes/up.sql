-- Process codes (CAP, `AA.MM.PP.SS.III`): a code in that form belongs to at most one live POP,
-- enforced here whoever writes. Codes in other forms (the older system's free text) are not
-- covered. POPs that already shared a code keep their documents unchanged: the first (lowest id)
-- holds the code, and the others are marked `cap_duplicate` (reported by `mapagov verify`) until
-- their code changes.
ALTER TABLE pops ADD COLUMN cap_duplicate BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE pops SET cap_duplicate = TRUE
 WHERE deleted_at IS NULL
   AND codigo_processo GLOB '[0-9][0-9].[0-9][0-9].[0-9][0-9].[0-9][0-9].[0-9][0-9][0-9]'
   AND EXISTS (SELECT 1 FROM pops o
                WHERE o.codigo_processo = pops.codigo_processo
                  AND o.deleted_at IS NULL AND o.id < pops.id);

CREATE UNIQUE INDEX pops_live_cap_idx ON pops (codigo_processo)
 WHERE deleted_at IS NULL AND NOT cap_duplicate
   AND codigo_processo GLOB '[0-9][0-9].[0-9][0-9].[0-9][0-9].[0-9][0-9].[0-9][0-9][0-9]';
