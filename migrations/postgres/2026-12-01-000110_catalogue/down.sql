DROP TABLE areas;

-- Clones of versao 0 become versao 1 again before the stricter check returns.
ALTER TABLE pops DROP CONSTRAINT pops_versao_check;
UPDATE pops SET versao = 1 WHERE versao = 0;
ALTER TABLE pops ADD CONSTRAINT pops_versao_check CHECK (versao >= 1);
