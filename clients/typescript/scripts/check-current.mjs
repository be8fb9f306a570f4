// Prepares the client for its tests and checks that what is committed follows from
// its sources: src/openapi.ts must be what openapi-typescript makes of
// src/api/openapi.json (exit 1 naming it otherwise: "npm run generate" fixes it),
// and tsc must compile src/ without an error; it writes dist/ (not committed).
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
const current = fs.readFileSync(path.join(temp, 'openapi.ts'), 'utf8') === fs.readFileSync(path.join(here, 'src/openapi.ts'), 'utf8');
fs.rmSync(temp, { recursive: true, force: true });
if (!current) console.log('not current: src/openapi.ts (run: npm run generate)');
run(bin('tsc'), ['-p', 'tsconfig.json']);
console.log(`client sources: ${current ? 1 : 0} passed, ${current ? 0 : 1} failed (dist/ built)`);
process.exit(current ? 0 : 1);
