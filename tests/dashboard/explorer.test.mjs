// Browser test of the dashboard's charts over time, explorer and deployed intents
// (issue 16) against a real 3-node lattice, the page opened on a follower:
// - the charts are drawn (latency, height per node, one timeline row per peer link, all
//   P2P) and move as commits happen (new heights, new latency points);
// - the explorer checks an account's Merkle proof in the browser (WebCrypto): an
//   inclusion and an absence pass; a proof a lying node altered (balance, sibling, an
//   intents_root it does not commit to) is refused; a document with an intents_root
//   whose state root is SHA-256(0x02 || accounts root || intents root) passes;
// - blocks and transactions open from the recent blocks table;
// - deployed intents: "No deployed intents." before any; once examples/intents/split.ae
//   is deployed, its form refuses a value that is no name or integer and sends
//   "intent split { ... }", which moves exactly what its equations say;
// - when the serving node is killed, the event stream moves to another node, commits
//   keep arriving and the charts keep moving (its links turn "down").
// Screenshots in AETHEL_ARTIFACT_DIR: dashboard-charts.png, explorer-proof.png,
// explorer-tampered.png, dashboard-after-failover.png, dashboard-intents.png.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  httpJson, loadChromium, runSteps, screenshot, startLattice, waitForLeader, waitInPage,
} from './harness.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const browser = await loadChromium();
let nodes = [];
let urls = [];
let leader;
let victim;
let page;
let firstHeight;
const pageErrors = [];

async function transfer(base, id, amount = 1) {
  const reply = await httpJson(`${base}/api/lattice/transactions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ transactions: [{ id, from: 'Alice', to: 'Bob', amount }] }),
  });
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.body.results[0].status, 'committed', reply.text);
  return reply.body.height;
}

const chart = (selector) => page.evaluate((s) => {
  const svg = document.querySelector(s);
  return { points: Number(svg.dataset.points || 0), last: JSON.parse(svg.dataset.last || '{}') };
}, selector);

// Shows account `name` in the explorer and waits for the proof verdict.
async function showAccount(name) {
  await page.evaluate(() => document.querySelector('#explorer-detail').replaceChildren());
  await page.selectOption('#explorer-kind', 'account');
  await page.fill('#explorer-query', name);
  await page.click('#explorer button[type="submit"]');
  await waitInPage(page, `the proof verdict for ${name}`, () => document.querySelector('#proof-verdict'));
  return page.evaluate(() => {
    const verdict = document.querySelector('#proof-verdict');
    return { ok: verdict.dataset.ok === 'true', text: verdict.textContent };
  });
}

// Serves the next proof of `name` as `alter` makes it from the real one: a lying node.
async function tamperNextProof(name, alter) {
  await page.route(`**/api/lattice/proof/${name}`, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: JSON.stringify(alter(await response.json())) });
  }, { times: 1 });
}

const sha256 = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();

await runSteps('dashboard explorer', [
  ['the page opened on a follower draws the three charts', async () => {
    nodes = await startLattice({ tag: 'explorer' });
    urls = nodes.map((n) => n.url);
    leader = await waitForLeader(urls);
    victim = urls.find((u) => u !== leader);
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${victim}/dashboard`);
    await waitInPage(page, 'a height line per node',
      () => Object.keys(JSON.parse(document.querySelector('#heights-chart').dataset.last || '{}')).length === 3);
    await waitInPage(page, 'six peer links, all over P2P', () => {
      const last = Object.values(JSON.parse(document.querySelector('#links-chart').dataset.last || '{}'));
      return last.length === 6 && last.every((t) => t === 'p2p');
    }, undefined, 30000);
    assert.ok(await page.locator('#links-chart rect.transport-p2p').count() >= 6);
    const latency = await chart('#latency-chart');
    assert.deepEqual(Object.keys(latency.last), ['p50', 'p99']);
  }],

  ['the charts move as commits happen', async () => {
    const before = { heights: await chart('#heights-chart'), latency: await chart('#latency-chart') };
    let height = 0;
    for (let i = 1; i <= 5; i += 1) {
      height = await transfer(i % 2 ? victim : leader, `chart-${i}`);
      firstHeight ??= height;
    }
    await waitInPage(page, `every node's line at height ${height}`,
      (h) => Object.values(JSON.parse(document.querySelector('#heights-chart').dataset.last)).every((v) => v >= h), height);
    await waitInPage(page, 'latency points for the new commits', (n) => {
      const svg = document.querySelector('#latency-chart');
      const last = JSON.parse(svg.dataset.last || '{}');
      return Number(svg.dataset.points) > n && last.p50 > 0 && last.p99 >= last.p50;
    }, before.latency.points);
    const after = { heights: await chart('#heights-chart'), latency: await chart('#latency-chart') };
    for (const [name, h] of Object.entries(after.heights.last)) {
      assert.ok(h > (before.heights.last[name] ?? -1), `${name}: ${before.heights.last[name]} -> ${h}`);
    }
    console.log(`latency p50 ${after.latency.last.p50} ms, p99 ${after.latency.last.p99} ms over ${after.latency.points} points`);
    await waitInPage(page, 'the commits counted by the live chart',
      () => Number(document.querySelector('#commit-chart').dataset.total) >= 5);
    await screenshot(page, 'dashboard-charts.png');
  }],

  ['every aethel_ metric on /metrics is documented in docs/DEPLOYMENT.md', async () => {
    const docs = fs.readFileSync(new URL('../../docs/DEPLOYMENT.md', import.meta.url), 'utf8');
    const reply = await httpJson(`${leader}/metrics`);
    const names = [...reply.text.matchAll(/^# TYPE (aethel_[a-z0-9_]+) /gm)].map((m) => m[1]);
    assert.ok(names.length >= 10, reply.text.slice(0, 300));
    const missing = names.filter((name) => !docs.includes(`\`${name}`));
    assert.deepEqual(missing, [], `not in docs/DEPLOYMENT.md: ${missing.join(', ')}`);
  }],

  ['the explorer checks an account\'s proof in the browser', async () => {
    const bob = await showAccount('Bob');
    assert.ok(bob.ok, bob.text);
    assert.match(bob.text, /inclusion proved against root [0-9a-f]{64}/);
    const state = await httpJson(`${leader}/api/lattice/state?limit=0`);
    assert.ok(bob.text.includes(state.body.merkle_root), `${bob.text} vs ${state.text}`);
    const nobody = await showAccount('Nobody');
    assert.ok(nobody.ok, nobody.text);
    assert.match(nobody.text, /absence proved/);
    await showAccount('Bob');
    await page.locator('#explorer-detail').scrollIntoViewIfNeeded();
    await screenshot(page, 'explorer-proof.png');
  }],

  ['a proof altered by a lying node is refused', async () => {
    await tamperNextProof('Bob', (doc) => ({ ...doc, balance: doc.balance + 1 }));
    let verdict = await showAccount('Bob');
    assert.ok(!verdict.ok, `a balance raised by 1 passed: ${verdict.text}`);
    assert.match(verdict.text, /REFUSED.*folds to/);
    await screenshot(page, 'explorer-tampered.png');

    await tamperNextProof('Bob', (doc) => {
      const siblings = [...doc.proof.siblings];
      const i = siblings.findIndex((s) => !/^0+$/.test(s));
      siblings[i] = `${siblings[i][0] === 'a' ? 'b' : 'a'}${siblings[i].slice(1)}`;
      return { ...doc, proof: { ...doc.proof, siblings } };
    });
    verdict = await showAccount('Bob');
    assert.ok(!verdict.ok, `an altered sibling passed: ${verdict.text}`);

    const intentsRoot = crypto.randomBytes(32).toString('hex');
    await tamperNextProof('Bob', (doc) => ({ ...doc, intents_root: intentsRoot }));
    verdict = await showAccount('Bob');
    assert.ok(!verdict.ok, `an intents_root the root does not commit to passed: ${verdict.text}`);
  }],

  ['a state root over accounts and deployed intents is checked as 0x02 || accounts || intents', async () => {
    const intentsRoot = crypto.randomBytes(32);
    let stateRoot = '';
    await tamperNextProof('Bob', (doc) => {
      stateRoot = sha256(Buffer.from([2]), Buffer.from(doc.merkle_root, 'hex'), intentsRoot).toString('hex');
      return { ...doc, intents_root: intentsRoot.toString('hex'), merkle_root: stateRoot };
    });
    const verdict = await showAccount('Bob');
    assert.ok(verdict.ok, verdict.text);
    assert.ok(verdict.text.includes(stateRoot), verdict.text);
  }],

  ['blocks and transactions open from the recent blocks table', async () => {
    await page.locator('#blocks tbody button', { hasText: 'chart-5' }).first().click();
    await waitInPage(page, 'transaction chart-5',
      () => /"status": "committed"/.test(document.querySelector('#explorer-detail pre')?.textContent || '')
        && /Transaction chart-5/.test(document.querySelector('#explorer-detail h3').textContent));
    await page.selectOption('#explorer-kind', 'block');
    await page.fill('#explorer-query', String(firstHeight));
    await page.click('#explorer button[type="submit"]');
    await waitInPage(page, `block ${firstHeight}`,
      (h) => document.querySelector('#explorer-detail h3')?.textContent.startsWith(`Block ${h} `)
        && /chart-1/.test(document.querySelector('#explorer-detail pre').textContent), firstHeight);
  }],

  ['before any deployment: "No deployed intents."', async () => {
    const reply = await httpJson(`${victim}/api/lattice/intents`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.intents, []);
    await waitInPage(page, '"No deployed intents."',
      () => !document.querySelector('#intents-empty').hidden && document.querySelectorAll('#intents-list li').length === 0);
  }],

  ['when the serving node is killed, the stream and the charts go on from another node', async () => {
    const victimName = nodes.find((n) => n.url === victim).name;
    nodes.find((n) => n.url === victim).kill();
    await waitInPage(page, 'streaming from another node',
      (u) => /^streaming from /.test(document.querySelector('#live-status').textContent)
        && document.querySelector('#live-status').textContent !== `streaming from ${u}`, victim, 20000);
    const height = await transfer(leader, 'after-kill');
    await waitInPage(page, `the commit at height ${height}`,
      (h) => document.querySelector('#live-last').dataset.height === String(h), height, 10000);
    await waitInPage(page, `the live nodes' lines at height ${height}`, ([h, dead]) => {
      const last = JSON.parse(document.querySelector('#heights-chart').dataset.last);
      return Object.entries(last).filter(([name]) => name !== dead).every(([, v]) => v >= h);
    }, [height, victimName]);
    await waitInPage(page, `the links to ${victimName} down`, (dead) => {
      const last = JSON.parse(document.querySelector('#links-chart').dataset.last);
      const toDead = Object.entries(last).filter(([name]) => name.endsWith(`→ ${dead}`));
      return toDead.length === 2 && toDead.every(([, t]) => t === 'down');
    }, victimName, 30000);
    await screenshot(page, 'dashboard-after-failover.png');
    assert.deepEqual(pageErrors, []);
  }],

  ['a deployed intent is listed, and its form runs it on the lattice', async () => {
    const split = fs.readFileSync(path.join(repo, 'examples/intents/split.ae'), 'utf8');
    const deployed = await httpJson(`${leader}/api/lattice/intents`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: split }),
    });
    assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
    const intentsPage = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    intentsPage.on('pageerror', (error) => pageErrors.push(error.message));
    await intentsPage.goto(`${leader}/dashboard`);
    const form = intentsPage.locator('#intents-list form[data-intent="split"]');
    await form.waitFor();
    const balance = async (name) => (await httpJson(`${leader}/api/lattice/accounts/${name}`)).body.balance ?? 0;
    const [alice, bob, dave] = [await balance('Alice'), await balance('Bob'), await balance('Dave')];
    await form.locator('input[name="payer"]').fill('Alice');
    await form.locator('input[name="left"]').fill('Bob; mint');
    await form.locator('input[name="right"]').fill('Dave');
    await form.locator('input[name="amount"]').fill('101');
    await form.locator('button[type="submit"]').click();
    await waitInPage(intentsPage, 'a refused value', () => document.querySelector('#result')?.dataset.status === 'bad_value');
    await form.locator('input[name="left"]').fill('Bob');
    await form.locator('button[type="submit"]').click();
    await waitInPage(intentsPage, 'the invocation PROVED',
      () => document.querySelector('#result-status')?.textContent === 'PROVED', undefined, 30000);
    await waitInPage(intentsPage, 'the deployment and the call in the recent transactions', () => {
      const text = document.querySelector('#transactions tbody').textContent;
      return text.includes('deploys split') && text.includes('split(payer: Alice, left: Bob, right: Dave, amount: 101)');
    });
    const result = await intentsPage.locator('#result').textContent();
    assert.match(result, /· committed at height \d+/);
    assert.doesNotMatch(result, /committed committed/);
    await screenshot(intentsPage, 'dashboard-intents.png');
    // What the equations say: 101 / 2 = 50 to left, the rest to right.
    assert.deepEqual([await balance('Alice'), await balance('Bob'), await balance('Dave')],
      [alice - 101, bob + 50, dave + 51]);
    await intentsPage.close();
    assert.deepEqual(pageErrors, []);
  }],
], async () => {
  await browser.close().catch(() => {});
  for (const n of nodes) await n.stop().catch(() => n.kill());
});
