// deploy/prometheus and deploy/grafana (issue 16): the alert rules and the scrape
// config pass Prometheus's own checker (promtool check rules / check config), the
// rules' unit tests pass (promtool test rules: each alert fires on a made-up series),
// and every metric and label that the rules and the Grafana dashboard's queries name
// is exported by a live `aethel node` on GET /metrics.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { httpJson, skip, startLattice, waitForLeader } from '../dashboard/harness.mjs';
import { loadTestPackages } from './packages.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const deploy = path.resolve(here, '../../deploy');
const PROMTOOL = process.env.AETHEL_PROMTOOL || '/usr/bin/promtool';
if (!fs.existsSync(PROMTOOL)) skip(`${PROMTOOL} is absent: apt-get install prometheus (scripts/install-deps.sh)`);
const { YAML } = await loadTestPackages();

// Series Prometheus makes itself, not the node.
const PROMETHEUS_OWN = new Set(['up']);

let nodes = [];
let metricsText = '';

before(async () => {
  nodes = await startLattice({ tag: 'monitoring' });
  const urls = nodes.map((n) => n.url);
  const leader = await waitForLeader(urls);
  // A write, a 404 and an event stream, so that every labelled family has a series.
  await httpJson(`${leader}/api/lattice/transactions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ transactions: [{ from: 'Alice', to: 'Bob', amount: 1 }] }),
  });
  await httpJson(`${leader}/api/lattice/accounts/Nobody`);
  metricsText = (await httpJson(`${leader}/metrics`)).text;
});

after(async () => {
  for (const n of nodes) await n.stop().catch(() => n.kill());
});

function promtool(args) {
  const r = spawnSync(PROMTOOL, args, { cwd: path.join(deploy, 'prometheus'), encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

// Every expression: the alert rules' and the dashboard's panels'.
function expressions() {
  const rules = YAML.parse(fs.readFileSync(path.join(deploy, 'prometheus/aethel-alerts.yml'), 'utf8'));
  const out = [];
  for (const group of rules.groups) for (const rule of group.rules) out.push({ where: `alert ${rule.alert}`, expr: rule.expr });
  const dashboard = JSON.parse(fs.readFileSync(path.join(deploy, 'grafana/aethel-lattice.json'), 'utf8'));
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) out.push({ where: `panel "${panel.title}"`, expr: target.expr });
  }
  return out;
}

// The series names and label matchers an expression selects: [{name, labels}].
function selectors(expr) {
  const out = [];
  const stripped = expr.replace(/"[^"]*"/g, (s) => s.replace(/[a-z_]/g, 'x'));  // no names inside strings
  for (const m of stripped.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*(\{[^}]*\})?/g)) {
    const name = m[1];
    if (!/^(aethel_|up$)/.test(name)) continue;
    const labels = [...(m[2] ? expr.slice(m.index, m.index + m[0].length) : '').matchAll(/([a-z_]+)\s*=~?\s*"/g)].map((l) => l[1]);
    out.push({ name, labels });
  }
  return out;
}

// A selector is exported when a sample line of that name carries every label it matches on.
function exported(text, { name, labels }) {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return lines.some((l) => labels.every((label) => l.includes(`${label}="`)));
}

test('promtool accepts the rules and the scrape config, and the rules\' unit tests pass', () => {
  assert.match(promtool(['check', 'rules', 'aethel-alerts.yml']), /SUCCESS: \d+ rules found/);
  promtool(['check', 'config', 'prometheus.yml']);
  promtool(['test', 'rules', 'aethel-alerts.test.yml']);
  const rules = YAML.parse(fs.readFileSync(path.join(deploy, 'prometheus/aethel-alerts.yml'), 'utf8'));
  const names = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
  for (const wanted of ['AethelNoLeader', 'AethelNodeLagging', 'AethelHttpFallbackActive', 'AethelStateDivergence', 'AethelFsyncSlow', 'AethelRateLimiting']) {
    assert.ok(names.includes(wanted), `no ${wanted} rule`);
  }
});

test('the Grafana dashboard is a dashboard: titled panels with a Prometheus query each', () => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(deploy, 'grafana/aethel-lattice.json'), 'utf8'));
  assert.equal(dashboard.uid, 'aethel-lattice');
  assert.ok(dashboard.panels.length >= 10);
  for (const panel of dashboard.panels) {
    assert.ok(panel.title && panel.gridPos && panel.targets.length > 0, JSON.stringify(panel).slice(0, 200));
  }
});

test('every metric and label named by a rule or a panel exists on a live node', () => {
  assert.match(metricsText, /^# TYPE aethel_height gauge$/m);
  // The check itself can fail: a name that does not exist is not found.
  assert.equal(exported(metricsText, { name: 'aethel_no_such_metric', labels: [] }), false);
  assert.equal(exported(metricsText, { name: 'aethel_sync_mode', labels: ['no_such_label'] }), false);
  const missing = [];
  let checked = 0;
  for (const { where, expr } of expressions()) {
    const found = selectors(expr);
    assert.ok(found.length > 0, `${where}: no metric found in ${expr}`);
    for (const selector of found) {
      if (PROMETHEUS_OWN.has(selector.name)) continue;
      checked += 1;
      if (!exported(metricsText, selector)) missing.push(`${where}: ${selector.name} {${selector.labels}}`);
    }
  }
  assert.deepEqual(missing, [], 'named but not exported by aethel node');
  assert.ok(checked >= 20, `only ${checked} selectors checked`);
});
