// Browser test of GET /dashboard against one real `aethel node` (issue 7): the card
// shows the node's height and root, the guide's transfer submitted through the editor
// shows PROVED and its new root, which then appears on the card without a reload; the
// page is usable from the keyboard and fits 1280 px and 375 px widths (screenshots in
// AETHEL_ARTIFACT_DIR); when the node stops, the card turns red and the banner degraded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  NodeProcess, describe, httpJson, loadChromium, runSteps, screenshot, waitInPage,
} from './harness.mjs';

const GUIDE_CODE = 'intent transfer { from: Alice, to: Bob, amount: 100 }';
const TOO_MUCH = 'intent transfer { from: Alice, to: Bob, amount: 5000 }';

const browser = await loadChromium();
const node = new NodeProcess({ name: 'dash-node' });
let page;
const pageErrors = [];

async function ledgerState() {
  const reply = await httpJson(`${node.url}/api/lattice/state?limit=0`);
  assert.equal(reply.status, 200, reply.text);
  return { height: String(reply.body.height), root: reply.body.merkle_root };
}

function cardShows(page_, what, expected) {
  return waitInPage(page_, `the card to show ${what} ${JSON.stringify(expected)}`,
    ([h, r]) => {
      const card = document.querySelector('#nodes .card');
      if (!card) return false;
      const field = (f) => card.querySelector(`[data-field="${f}"]`).textContent;
      return (h === null || field('height') === h) && (r === null || field('merkle_root') === r);
    }, [expected.height ?? null, expected.root ?? null]);
}

await runSteps('dashboard', [
  ['the node serves the page and its assets with their content types', async () => {
    await node.start();
    const html = await httpJson(`${node.url}/dashboard`);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type'), /^text\/html/);
    assert.match(html.text, /<main>/);
    const js = await httpJson(`${node.url}/dashboard/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /javascript/);
    const css = await httpJson(`${node.url}/dashboard/style.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type'), /^text\/css/);
    const post = await httpJson(`${node.url}/dashboard`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
    assert.equal(post.body.success, false);
    const missing = await httpJson(`${node.url}/dashboard/nope.js`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.success, false);  // JSON, never an HTML page
  }],

  ['the card shows the node height and merkle root', async () => {
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${node.url}/dashboard`);
    const state = await ledgerState();
    await cardShows(page, 'the height and root', state);
    const card = await page.locator('#nodes .card').first();
    assert.equal(await card.locator('.card-name').textContent(), 'dash-node');
    await waitInPage(page, 'a banner that is not degraded',
      () => ['green', 'yellow'].includes(document.querySelector('#banner').dataset.state));
    assert.deepEqual(pageErrors, []);
  }],

  ['the guide transfer submitted through the editor shows PROVED and the new root on the card', async () => {
    const before = await ledgerState();
    await page.evaluate(() => { window.__notReloaded = true; });
    await page.getByLabel('Aethel code').fill(GUIDE_CODE);
    await page.getByRole('button', { name: 'Verify & submit' }).click();
    await waitInPage(page, 'the result PROVED',
      () => document.querySelector('#result-status')?.textContent === 'PROVED');
    const after = await ledgerState();
    assert.equal(Number(after.height), Number(before.height) + 1);
    assert.notEqual(after.root, before.root);
    assert.equal(await page.locator('#result-root').textContent(), after.root);
    assert.match(await page.locator('#result').innerText(), /transfer \(invocation\): PROVED/);
    await cardShows(page, 'the new height and root', after);
    await waitInPage(page, 'the transfer in recent transactions',
      () => document.querySelector('#transactions tbody').innerText.includes('Alice → Bob: 100'));
    assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page reloaded');
    assert.deepEqual(pageErrors, []);
  }],

  ['the editor works from the keyboard and shows a refused transfer as FAILED', async () => {
    const before = await ledgerState();
    await page.getByLabel('Aethel code').focus();
    await page.keyboard.press('Control+A');
    await page.keyboard.type(TOO_MUCH);
    await page.keyboard.press('Control+Enter');
    await waitInPage(page, 'the result FAILED',
      () => document.querySelector('#result-status')?.textContent === 'FAILED');
    assert.match(await page.locator('#result').innerText(), /insufficient/i);
    assert.deepEqual(await ledgerState(), before);
    // Tab reaches the sync-mode buttons and the submit button.
    await page.locator('body').focus();
    const focused = [];
    for (let i = 0; i < 20; i += 1) {
      await page.keyboard.press('Tab');
      focused.push(await page.evaluate(() => document.activeElement.textContent.trim()));
    }
    for (const name of ['P2P only', 'HTTP only', 'Auto', 'Verify & submit']) {
      assert.ok(focused.includes(name), `Tab never reached "${name}": ${JSON.stringify(focused)}`);
    }
  }],

  ['the sync buttons need the node admin token (data/admin.token) and switch the serving node', async () => {
    const result = () => page.locator('#sync-result').innerText();
    await page.getByRole('button', { name: 'HTTP only' }).click();
    assert.match(await result(), /admin token/);
    await page.locator('#admin-token').fill('not-the-token');
    await page.getByRole('button', { name: 'HTTP only' }).click();
    await waitInPage(page, 'the wrong token to be refused',
      () => /refused/.test(document.querySelector('#sync-result').textContent));
    assert.match(await result(), /not this node's/);
    const token = fs.readFileSync(path.join(node.root, 'data', 'admin.token'), 'utf8').trim();
    await page.locator('#admin-token').fill(token);
    await page.getByRole('button', { name: 'HTTP only' }).click();
    await waitInPage(page, 'the switch to be accepted',
      () => /accepted by/.test(document.querySelector('#sync-result').textContent));
    const status = await httpJson(`${node.url}/api/lattice/p2p/status`);
    assert.equal(String(status.body.sync_mode).toUpperCase(), 'HTTP', JSON.stringify(status.body));
    await page.getByRole('button', { name: 'Auto' }).click();
    await waitInPage(page, 'the switch back to auto',
      () => /Auto: accepted by/.test(document.querySelector('#sync-result').textContent));
  }],

  ['the page fits 1280 px and 375 px widths (screenshots)', async () => {
    await screenshot(page, 'dashboard-1280.png');
    let width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 1280, `scroll width ${width} at 1280`);
    await page.setViewportSize({ width: 375, height: 812 });
    width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `horizontal scroll at 375 px: scroll width ${width}`);
    const cardWidth = await page.locator('#nodes .card').first().evaluate((e) => e.getBoundingClientRect().width);
    assert.ok(cardWidth <= 375 && cardWidth > 250, `card width ${cardWidth} at 375`);
    await screenshot(page, 'dashboard-375.png');
    await page.setViewportSize({ width: 1280, height: 900 });
  }],

  ['a stopped node turns its card red and the banner degraded, without a reload', async () => {
    const exit = await node.stop();
    assert.equal(exit.code, 0, `node exit ${JSON.stringify(exit)}`);
    await waitInPage(page, 'the degraded banner and a red card', () =>
      document.querySelector('#banner').dataset.state === 'red' &&
      document.querySelector('#banner').textContent.includes('🔴 Degraded') &&
      document.querySelector('#nodes .card').dataset.state === 'down');
    await screenshot(page, 'dashboard-node-down-1280.png');
    assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page reloaded');
    // Back up: the open page recovers on its own.
    await node.start();
    await waitInPage(page, 'the card back up', () =>
      document.querySelector('#nodes .card')?.dataset.state === 'up' &&
      document.querySelector('#banner').dataset.state !== 'red');
    assert.deepEqual(pageErrors, []);
  }],
], async () => {
  if (page && process.exitCode) console.log(JSON.stringify(await describe(page)));
  await browser.close().catch(() => {});
  await node.stop().catch(() => node.kill());
});
