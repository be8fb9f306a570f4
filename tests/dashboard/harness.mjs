// Shared helpers of the dashboard browser tests: real `aethel node` processes on
// loopback, Debian's chromium through playwright-core, polling with deadlines.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SKIP_CODE = 77;  // ctest SKIP_RETURN_CODE
const here = path.dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.AETHEL_CHROMIUM || '/usr/bin/chromium';
export const BINARY = process.env.AETHEL_BINARY;
export const ARTIFACTS = process.env.AETHEL_ARTIFACT_DIR || path.join(os.tmpdir(), 'aethel-dashboard-artifacts');

// Without chromium or playwright-core the test cannot run: skipped with the reason on a
// developer machine, a failure in CI (where scripts/test.sh installs both).
export function skip(reason) {
  if (process.env.CI) {
    console.error(`FAIL: ${reason}`);
    process.exit(1);
  }
  console.log(`SKIP: ${reason}`);
  process.exit(SKIP_CODE);
}

export async function loadChromium() {
  if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} is absent: apt-get install chromium (scripts/install-deps.sh)`);
  if (!fs.existsSync(path.join(here, 'node_modules', 'playwright-core'))) {
    skip('playwright-core is not installed in tests/dashboard/node_modules: run scripts/install-npm-deps.sh');
  }
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

function canBind(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

// A free loopback port below the kernel's ephemeral range. A port from inside it can
// be taken by any outgoing connection (a node dialing its peers) between the test
// choosing it and the node listening on it: CI failed that way. Each test process
// walks from a random start, so parallel tests rarely meet, and skips bound ports.
const FIRST_PORT = 10000;
const END_PORT = (() => {
  try {
    const first = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
    return first > FIRST_PORT + 1000 && first <= 65535 ? first : 32768;
  } catch {
    return 32768;
  }
})();
let nextPort = Math.floor(Math.random() * (END_PORT - FIRST_PORT));

export async function freePort() {
  for (let attempt = 0; attempt < END_PORT - FIRST_PORT; attempt += 1) {
    const port = FIRST_PORT + (nextPort++ % (END_PORT - FIRST_PORT));
    if (await canBind(port)) return port;
  }
  throw new Error(`no free loopback port below ${END_PORT}`);
}

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Calls `probe` until it returns a truthy value or `timeoutMs` passes; then throws,
// naming `what` and the last value or error seen.
export async function waitFor(what, probe, timeoutMs = 20000, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing yet';
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = `last value ${JSON.stringify(value)}`;
    } catch (error) {
      last = `last error ${error.message}`;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`);
    await delay(intervalMs);  // poll interval, not synchronization
  }
}

export async function httpJson(url, options = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs || 30000);
  try {
    const response = await fetch(url, { ...options, signal: controller.signal });
    const text = await response.text();
    let body = null;
    try { body = JSON.parse(text); } catch { body = null; }
    return { status: response.status, body, text, headers: response.headers };
  } finally {
    clearTimeout(timer);
  }
}

export function makeTempDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `aethel-${tag}-`));
}

// `aethel node` as a child process with its own data directory, on 127.0.0.1.
export class NodeProcess {
  constructor({ name = 'dash-node', root = makeTempDir(name), port, env = {} } = {}) {
    if (!BINARY) throw new Error('AETHEL_BINARY is not set (ctest sets it)');
    this.name = name;
    this.root = root;
    this.port = port;
    this.env = env;
    this.child = null;
    this.exit = null;
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  output() {
    try { return fs.readFileSync(path.join(this.root, 'output.log'), 'utf8'); } catch { return ''; }
  }

  async start() {
    if (!this.port) this.port = await freePort();
    fs.mkdirSync(path.join(this.root, 'data'), { recursive: true });
    fs.mkdirSync(path.join(this.root, 'logs'), { recursive: true });
    const out = fs.openSync(path.join(this.root, 'output.log'), 'a');
    this.exit = null;
    this.child = spawn(BINARY, ['node'], {
      cwd: this.root,
      stdio: ['ignore', out, out],
      env: {
        PATH: '/usr/bin:/bin',
        AETHEL_DATA_DIR: path.join(this.root, 'data'),
        AETHEL_LOG_DIR: path.join(this.root, 'logs'),
        AETHEL_API_HOST: '127.0.0.1',
        AETHEL_API_PORT: String(this.port),
        AETHEL_NODE_NAME: this.name,
        ...this.env,
      },
    });
    fs.closeSync(out);
    this.child.once('exit', (code, signal) => { this.exit = { code, signal }; });
    const ready = await waitFor(`${this.name} to answer /health on ${this.url}`, async () => {
      if (this.exit) return 'exited';
      const reply = await httpJson(`${this.url}/health`, { timeoutMs: 1000 });
      return reply.status === 200 && 'ready';
    }, 30000);
    if (ready === 'exited') {
      throw new Error(`${this.name} exited during start-up (${JSON.stringify(this.exit)}): ${this.output()}`);
    }
  }

  // SIGTERM, then SIGKILL if the node has not exited within `graceMs`.
  async stop(graceMs = 10000) {
    if (!this.child || this.exit) return this.exit;
    this.child.kill('SIGTERM');
    try {
      await waitFor(`${this.name} to exit`, () => this.exit, graceMs);
    } catch {
      this.child.kill('SIGKILL');
      await waitFor(`${this.name} to die`, () => this.exit, 5000);
    }
    return this.exit;
  }

  kill() {
    if (this.child && !this.exit) this.child.kill('SIGKILL');
  }
}

// Runs `aethel <args>` to completion: {status, stdout, stderr}.
export function runAethel(args) {
  const r = spawnSync(BINARY, args, { encoding: 'utf8', timeout: 30000 });
  return { status: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

// Text of every element matching `selector` inside the page, for failure messages.
export async function describe(page) {
  return page.evaluate(() => ({
    banner: document.querySelector('#banner')?.textContent.trim(),
    detail: document.querySelector('#banner-detail')?.textContent.trim(),
    source: document.querySelector('#source')?.textContent,
    cards: [...document.querySelectorAll('#nodes .card')].map((c) => c.innerText.replace(/\s+/g, ' ')),
    result: document.querySelector('#result')?.innerText,
  }));
}

// Waits until `predicate` (run in the page with `arg`) is true; the error says what the
// page showed.
export async function waitInPage(page, what, predicate, arg, timeoutMs = 20000) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: timeoutMs, polling: 100 });
  } catch (error) {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; page shows ${JSON.stringify(await describe(page), null, 1)}`);
  }
}

export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

// Runs the named steps in order, printing each; the first failure fails the test
// (exit 1) after `cleanup`. Prints "N passed, N failed" at the end.
export async function runSteps(title, steps, cleanup) {
  let passed = 0;
  let failed = 0;
  try {
    for (const [name, fn] of steps) {
      const started = Date.now();
      try {
        await fn();
        passed += 1;
        console.log(`ok - ${name} (${Date.now() - started} ms)`);
      } catch (error) {
        failed += 1;
        console.log(`not ok - ${name}\n${error.stack || error}`);
        break;
      }
    }
  } finally {
    await cleanup();
  }
  console.log(`${title}: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// Starts `count` validators on loopback (keys from `aethel keygen`, P2P and the HTTP
// lung configured both ways, a 1 s heartbeat) and resolves once each answers /health.
// `env` is added to every node's environment. Returns the NodeProcess list.
export async function startLattice({ count = 3, env = {}, tag = 'lattice' } = {}) {
  const members = [];
  for (let i = 1; i <= count; i += 1) {
    const root = makeTempDir(`${tag}-node-${i}`);
    const key = path.join(root, 'node.key');
    const keygen = runAethel(['keygen', '--out', key]);
    if (keygen.status !== 0) throw new Error(`aethel keygen failed: ${keygen.stderr || keygen.status}`);
    const peerId = (keygen.stdout.match(/12D3KooW[1-9A-HJ-NP-Za-km-z]+/) || [])[0];
    if (!peerId) throw new Error(`aethel keygen printed no peer ID: ${keygen.stdout}`);
    members.push({ name: `node-${i}`, root, key, peerId, port: await freePort(), p2pPort: await freePort() });
  }
  const nodes = members.map((m) => {
    const others = members.filter((o) => o !== m);
    return new NodeProcess({
      name: m.name,
      root: m.root,
      port: m.port,
      env: {
        AETHEL_NODE_KEY: m.key,
        AETHEL_PUBLIC_URL: `http://127.0.0.1:${m.port}`,
        AETHEL_P2P_LISTEN: `/ip4/127.0.0.1/tcp/${m.p2pPort}`,
        AETHEL_P2P_BOOTSTRAP: others.map((o) => `/ip4/127.0.0.1/tcp/${o.p2pPort}/p2p/${o.peerId}`).join(','),
        AETHEL_VALIDATORS: members.map((o) => o.peerId).join(','),
        AETHEL_LATTICE_NODES: others.map((o) => `http://127.0.0.1:${o.port}`).join(','),
        AETHEL_HEARTBEAT_INTERVAL: '1',
        AETHEL_PEERLESS_TIMEOUT: '5',
        AETHEL_HTTP_POLL_INTERVAL: '1',
        ...env,
      },
    });
  });
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (error) {
    nodes.forEach((n) => n.kill());  // a node left running would keep the test alive
    throw error;
  }
  return nodes;
}

// Resolves with the URL of the node that leads, once the lattice has one leader.
export async function waitForLeader(urls, timeoutMs = 60000) {
  return waitFor('one leader among the nodes', async () => {
    const roles = await Promise.all(urls.map((u) => httpJson(`${u}/`, { timeoutMs: 2000 })
      .then((r) => r.body?.role).catch(() => 'down')));
    const leaders = urls.filter((_, i) => roles[i] === 'leader');
    return leaders.length === 1 && roles.filter((r) => r === 'follower').length >= 1 && leaders[0];
  }, timeoutMs, 100);
}
