DROP TABLE areas;

-- Clones of versao 0 become versao 1 again before the stricter check returns.
UPDATE pops SET versao = 1 WHERE versao = 0;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (versao >= 0)', 'CHECK (versao >= 1)')
 WHERE type = 'table' AND name = 'pops';
PRAGMA writable_schema = RESET;
