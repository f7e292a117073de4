-- Publication and the catalogue (issue 18).

-- A POP of `versao` 0 is a clone never published (the later Django versions make them): it is
-- kept as it is, so its document and hash stay those of the source.
ALTER TABLE pops DROP CONSTRAINT pops_versao_check;
ALTER TABLE pops ADD CONSTRAINT pops_versao_check CHECK (versao >= 0);
