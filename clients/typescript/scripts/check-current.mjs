// Checks that what is committed follows from its sources: src/openapi.ts is what
// openapi-typescript makes of src/api/openapi.json, and dist/ is what tsc makes of
// src/. Regenerates both into a temporary directory and compares file by file; exit 1
// naming every file that differs ("npm run generate && npm run build" fixes it).
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
const differing = [];
run(bin('openapi-typescript'), ['../../src/api/openapi.json', '--output', path.join(temp, 'openapi.ts')]);
if (fs.readFileSync(path.join(temp, 'openapi.ts'), 'utf8') !== fs.readFileSync(path.join(here, 'src/openapi.ts'), 'utf8')) {
  differing.push('src/openapi.ts (run: npm run generate)');
}
run(bin('tsc'), ['-p', 'tsconfig.json', '--outDir', path.join(temp, 'dist')]);
const built = fs.readdirSync(path.join(temp, 'dist')).sort();
const committed = fs.readdirSync(path.join(here, 'dist')).sort();
if (JSON.stringify(built) !== JSON.stringify(committed)) differing.push(`dist/ lists ${committed} but tsc makes ${built}`);
for (const file of built) {
  const a = fs.readFileSync(path.join(temp, 'dist', file), 'utf8');
  const b = fs.existsSync(path.join(here, 'dist', file)) ? fs.readFileSync(path.join(here, 'dist', file), 'utf8') : null;
  if (a !== b) differing.push(`dist/${file} (run: npm run build)`);
}
fs.rmSync(temp, { recursive: true, force: true });
for (const d of differing) console.log(`not current: ${d}`);
console.log(`client sources: ${differing.length ? 0 : 1} passed, ${differing.length ? 1 : 0} failed`);
process.exit(differing.length ? 1 : 0);
