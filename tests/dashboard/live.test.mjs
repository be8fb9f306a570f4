// Browser test of the dashboard's live commits chart (issue 16) against a real 3-node
// lattice: the page opened on a follower streams GET /api/lattice/events from it, each
// commit shows as "Last commit" and as a bar of the commits-per-second SVG chart; when
// the node that served the page is killed, the stream moves to another node and the
// next commit still arrives. Screenshot in AETHEL_ARTIFACT_DIR (live-chart.png).
import assert from 'node:assert/strict';
import {
  httpJson, loadChromium, runSteps, screenshot, startLattice, waitForLeader, waitInPage,
} from './harness.mjs';

const browser = await loadChromium();
let nodes = [];
let leader;
let victim;
let page;
const pageErrors = [];

async function transfer() {
  const reply = await httpJson(`${leader}/api/lattice/transactions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ transactions: [{ from: 'Alice', to: 'Bob', amount: 1 }] }),
  });
  assert.equal(reply.status, 200, reply.text);
  return reply.body.height;
}

function lastCommitIs(height) {
  return waitInPage(page, `the last commit at height ${height}`,
    (h) => document.querySelector('#live-last').dataset.height === String(h), height, 10000);
}

await runSteps('dashboard live', [
  ['the page opened on a follower streams its events', async () => {
    nodes = await startLattice({ tag: 'live' });
    const urls = nodes.map((n) => n.url);
    leader = await waitForLeader(urls);
    victim = urls.find((u) => u !== leader);
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${victim}/dashboard`);
    await waitInPage(page, 'streaming from the serving node',
      (u) => document.querySelector('#live-status').textContent === `streaming from ${u}`, victim);
  }],

  ['commits show as the last commit and as bars of the chart', async () => {
    let height = 0;
    for (let i = 0; i < 3; i += 1) height = await transfer();  // three, then five timed
    await lastCommitIs(height);
    // SPEC: a commit reaches an open page in < 100 ms on loopback; the median of 5
    // commits, each from its apply on the node to its arrival in the page.
    const bound_ms = Number(process.env.AETHEL_EVENT_BOUND_MS || 100);
    const delivery_ms = [];
    for (let i = 0; i < 5; i += 1) {
      const h = await transfer();
      await lastCommitIs(h);
      delivery_ms.push(Number(await page.locator('#live-last').getAttribute('data-delivery-ms')));
    }
    delivery_ms.sort((a, b) => a - b);
    console.log(`commit → page: ${delivery_ms.join(', ')} ms (median ${delivery_ms[2]}, bound ${bound_ms})`);
    assert.ok(delivery_ms[2] < bound_ms, `median delivery ${delivery_ms[2]} ms is not under ${bound_ms} ms`);
    await waitInPage(page, 'eight commits counted by the chart',
      () => Number(document.querySelector('#commit-chart').dataset.total) >= 8);
    const bars = await page.locator('#commit-chart rect').count();
    assert.equal(bars, 60);
    const tallest = await page.evaluate(() => Math.max(...[...document.querySelectorAll('#commit-chart rect')]
      .map((r) => Number(r.getAttribute('height')))));
    assert.ok(tallest > 0, 'a bar has height');
    await screenshot(page, 'live-chart.png');
  }],

  ['when the serving node dies, the stream moves on and the next commit arrives', async () => {
    await waitInPage(page, 'the other nodes known to the page',
      () => document.querySelectorAll('#nodes .card').length === 3);
    nodes.find((n) => n.url === victim).kill();
    await waitInPage(page, 'streaming from another node',
      (u) => /^streaming from /.test(document.querySelector('#live-status').textContent)
        && document.querySelector('#live-status').textContent !== `streaming from ${u}`, victim, 20000);
    await lastCommitIs(await transfer());
    assert.deepEqual(pageErrors, []);
  }],
], async () => {
  await browser.close().catch(() => {});
  for (const n of nodes) await n.stop().catch(() => n.kill());
});
