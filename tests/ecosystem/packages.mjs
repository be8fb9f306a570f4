// The npm packages of these tests (pinned in package-lock.json, installed by
// scripts/install-npm-deps.sh). Missing: skipped with the reason on a developer's
// machine, a failure in CI.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { skip } from '../dashboard/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function loadTestPackages() {
  if (!fs.existsSync(path.join(here, 'node_modules', 'ajv')) || !fs.existsSync(path.join(here, 'node_modules', '@readme', 'openapi-parser'))) {
    skip('tests/ecosystem/node_modules is missing: run scripts/install-npm-deps.sh');
  }
  const { validate } = await import('@readme/openapi-parser');
  const { default: Ajv2020 } = await import('ajv/dist/2020.js');
  const YAML = await import('yaml');
  return { validate, Ajv2020, YAML };
}
