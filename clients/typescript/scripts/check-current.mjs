// Prepares the client for its tests and checks that what is committed follows from
// its sources: src/openapi.ts must be what openapi-typescript makes of
// src/api/openapi.json (exit 1 naming it otherwise: "npm run generate" fixes it),
// tsc must compile src/ without an error, and the committed dist/ must be its output.
// Exit 77 (skipped) when node_modules is missing, except in CI.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(here, 'node_modules', '.bin', name);
if (!fs.existsSync(bin('tsc')) || !fs.existsSync(bin('openapi-typescript'))) {
  console.log('SKIP: clients/typescript/node_modules is missing: run scripts/install-npm-deps.sh');
  process.exit(process.env.CI ? 1 : 77);
}
const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'aethel-client-check-'));
const run = (command, args) => {
  const r = spawnSync(command, args, { cwd: here, encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`${command} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
};
run(bin('openapi-typescript'), ['../../src/api/openapi.json', '--output', path.join(temp, 'openapi.ts')]);
const stale = [];
const read = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null);
if (read(path.join(temp, 'openapi.ts')) !== read(path.join(here, 'src/openapi.ts'))) {
  stale.push('src/openapi.ts (run: npm run generate)');
}
// dist/ is committed (the node embeds it for its dashboard): it must be what tsc
// makes of src/, file for file.
run(bin('tsc'), ['-p', 'tsconfig.json', '--outDir', path.join(temp, 'dist')]);
const built = fs.readdirSync(path.join(temp, 'dist')).sort();
const committed = fs.existsSync(path.join(here, 'dist')) ? fs.readdirSync(path.join(here, 'dist')).sort() : [];
for (const name of new Set([...built, ...committed])) {
  if (read(path.join(temp, 'dist', name)) !== read(path.join(here, 'dist', name))) {
    stale.push(`dist/${name} (run: npm run build)`);
  }
}
fs.rmSync(temp, { recursive: true, force: true });
for (const what of stale) console.log(`not current: ${what}`);
console.log(`client sources: ${stale.length === 0 ? 'current' : `${stale.length} not current`}`);
process.exit(stale.length === 0 ? 0 : 1);
