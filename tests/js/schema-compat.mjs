// The breaking-change check of the API: compares a schema with the last released one and
// fails when a breaking change is not announced in the changelog.
//
//   node schema-compat.mjs <released.graphql> <current.graphql> <CHANGELOG.md>
//
// Breaking changes are graphql-js's own `findBreakingChanges` (the reference implementation's
// rules: a type, field, argument or enum value removed, a type changed, a required argument or
// input field added…). A change is announced when the schema coordinate it is about
// (`Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`, `@directive`) appears in backticks in
// a bullet marked **Breaking** under the changelog's `## Unreleased` heading; for an argument,
// its field's coordinate is enough. Dangerous changes (an optional argument added, a default
// changed…) are listed but do not fail. Exit status: 0 when every breaking change is announced,
// 1 when one is not, 2 on bad input.
import { buildSchema, findBreakingChanges, findDangerousChanges } from 'graphql';
import { readFileSync } from 'node:fs';

/** The coordinates a change may be announced by, most precise first. */
function coordinates(change) {
  const d = change.description;
  let m;
  if ((m = d.match(/^A required arg (\w+) on (\w+)\.(\w+) was added\./))) {
    return [`${m[2]}.${m[3]}(${m[1]}:)`, `${m[2]}.${m[3]}`];
  }
  if ((m = d.match(/^(\w+)\.(\w+) arg (\w+) (?:was removed|has changed type)/))) {
    return [`${m[1]}.${m[2]}(${m[3]}:)`, `${m[1]}.${m[2]}`];
  }
  if ((m = d.match(/^A required field (\w+) on input type (\w+) was added\./))) {
    return [`${m[2]}.${m[1]}`];
  }
  if (change.type.startsWith('DIRECTIVE_') || change.type === 'REQUIRED_DIRECTIVE_ARG_ADDED') {
    if ((m = d.match(/^A required arg (\w+) on directive (\w+) was added\./))) {
      return [`@${m[2]}(${m[1]}:)`, `@${m[2]}`];
    }
    m = d.match(/^(\w+) was removed\.$/) ?? d.match(/ was removed from (\w+)\.$/);
    return [`@${m ? m[1] : d.split(' ')[0]}`];
  }
  if ((m = d.match(/^Standard scalar (\w+) /))) {
    return [m[1]];
  }
  if ((m = d.match(/^(\w+) was removed from enum type (\w+)\./))) {
    return [`${m[2]}.${m[1]}`];
  }
  if ((m = d.match(/^(\w+) was removed from union type (\w+)\./))) {
    return [m[2]];
  }
  if ((m = d.match(/^(\w+) no longer implements interface (\w+)\./))) {
    return [m[1]];
  }
  if ((m = d.match(/^(\w+)(?:\.(\w+))? /))) {
    return m[2] ? [`${m[1]}.${m[2]}`] : [m[1]];
  }
  return [d.split(' ')[0]];
}

/** Every backticked text in the **Breaking** bullets of the changelog's Unreleased section. */
function announced(changelog) {
  const lines = changelog.split('\n');
  const start = lines.findIndex((l) => /^## Unreleased\b/.test(l));
  if (start < 0) return new Set();
  const section = [];
  for (const line of lines.slice(start + 1)) {
    if (/^## /.test(line)) break;
    section.push(line);
  }
  // A bullet runs from its "- " to the next bullet or heading at any level.
  const bullets = [];
  for (const line of section) {
    if (/^\s*- /.test(line) || /^#/.test(line)) bullets.push(line);
    else if (bullets.length) bullets[bullets.length - 1] += `\n${line}`;
  }
  const names = new Set();
  for (const bullet of bullets.filter((b) => b.includes('**Breaking**'))) {
    for (const m of bullet.matchAll(/`([^`]+)`/g)) names.add(m[1].trim());
  }
  return names;
}

function main([releasedPath, currentPath, changelogPath]) {
  if (!changelogPath) {
    console.error('usage: node schema-compat.mjs <released.graphql> <current.graphql> <CHANGELOG.md>');
    return 2;
  }
  const released = buildSchema(readFileSync(releasedPath, 'utf8'));
  const current = buildSchema(readFileSync(currentPath, 'utf8'));
  const names = announced(readFileSync(changelogPath, 'utf8'));
  let unannounced = 0;
  for (const change of findBreakingChanges(released, current)) {
    const coords = coordinates(change);
    const ok = coords.some((c) => names.has(c));
    if (!ok) unannounced += 1;
    console.log(`${ok ? 'announced  ' : 'UNANNOUNCED'} breaking  ${change.description} [${coords[0]}]`);
  }
  for (const change of findDangerousChanges(released, current)) {
    console.log(`dangerous            ${change.description}`);
  }
  if (unannounced) {
    console.log(
      `${unannounced} breaking change(s) not announced: name each coordinate in backticks in a ` +
        '**Breaking** bullet under "## Unreleased" in the changelog, or undo the change.',
    );
    return 1;
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
