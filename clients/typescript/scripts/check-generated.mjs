// Fails when src/generated/graphql.ts is not what graphql-codegen makes from the current
// schema.graphql and src/operations.graphql: the checked-in types drifted from the API.
// Run `npm run generate` to update them. `--schema <file>` checks against another schema.
import { generate, loadCodegenConfig } from '@graphql-codegen/cli';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const { config } = await loadCodegenConfig({ configFilePath: join(root, 'codegen.yml') });
const schemaFlag = process.argv.indexOf('--schema');
if (schemaFlag >= 0) config.schema = process.argv[schemaFlag + 1];
const outputs = await generate({ ...config, silent: true, cwd: root }, false);
let stale = 0;
for (const { filename, content } of outputs) {
  const path = join(root, relative(root, filename));
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // missing: stale
  }
  if (current !== content) {
    stale += 1;
    console.error(`${relative(root, path)} is stale: run \`npm run generate\` in clients/typescript`);
  }
}
if (stale === 0) console.log(`${outputs.length} generated file(s) current`);
process.exitCode = stale ? 1 : 0;
