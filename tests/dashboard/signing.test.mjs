// Browser test of signing in the dashboard (SPEC §8, issue 13) against one real
// `aethel node` on a closed lattice (open_accounts false) whose Alice is owned by a key
// from the real `aethel account new`: the page loads that key file, signs a transfer
// with WebCrypto in Chromium and the node commits it; the key's secret never leaves
// the page (no request carries it); the next transfer takes the next nonce; a wrong
// key is refused by the node as unauthorized and a file that is not a key by the page.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  NodeProcess, httpJson, loadChromium, makeTempDir, runAethel, runSteps, screenshot, waitInPage,
} from './harness.mjs';

const browser = await loadChromium();
const dir = makeTempDir('dash-signing');

// `aethel account new`: the key file and the public key it printed.
function newKey(name) {
  const file = path.join(dir, `${name}.key`);
  const made = runAethel(['account', 'new', '--out', file]);
  assert.equal(made.status, 0, made.stderr);
  return { file, owner: made.stdout.trim(), secret: JSON.parse(fs.readFileSync(file, 'utf8')).d };
}

const alice = newKey('alice');
const mallory = newKey('mallory');
const genesis = path.join(dir, 'genesis.json');
fs.writeFileSync(genesis, JSON.stringify({
  accounts: { Alice: { balance: 1000, owner: alice.owner }, Bob: 500 },
  policy: { open_accounts: false },
}));
const node = new NodeProcess({ name: 'dash-signing', env: { AETHEL_GENESIS_FILE: genesis } });
let page;
const pageErrors = [];
const sentBodies = [];

async function account(name) {
  const reply = await httpJson(`${node.url}/api/lattice/accounts/${name}`);
  assert.equal(reply.status, 200, reply.text);
  return reply.body;
}

async function loadKey(file, expected) {
  await page.locator('#key-file').setInputFiles(file);
  await waitInPage(page, `the key status to show ${expected}`,
    (text) => document.querySelector('#key-status').textContent.includes(text), expected);
}

async function send(from, to, amount, expected) {
  await page.getByRole('textbox', { name: 'From', exact: true }).fill(from);
  await page.getByRole('textbox', { name: 'To', exact: true }).fill(to);
  await page.getByRole('spinbutton', { name: 'Amount', exact: true }).fill(String(amount));
  await page.getByRole('button', { name: 'Sign & send' }).click();
  await waitInPage(page, `the signed result to show ${expected}`,
    (text) => document.querySelector('#signed-result').textContent.includes(text), expected);
}

await runSteps('dashboard signing', [
  ['the page loads the key file from aethel account new and names its owner', async () => {
    await node.start();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => sentBodies.push(request.postData() ?? ''));
    await page.goto(`${node.url}/dashboard`);
    assert.equal(await page.getByRole('button', { name: 'Sign & send' }).isDisabled(), true);
    await loadKey(alice.file, `Signing as owner ${alice.owner.slice(0, 16)}`);
    assert.equal(await page.locator('#key-status').getAttribute('data-owner'), alice.owner);
  }],

  ['a transfer signed in the page commits, and the next one takes the next nonce', async () => {
    await send('Alice', 'Bob', 100, 'Committed');
    assert.deepEqual([(await account('Alice')).balance, (await account('Alice')).nonce], [900, 1]);
    await send('Alice', 'Bob', 50, 'Committed');
    const after = await account('Alice');
    assert.deepEqual([after.balance, after.nonce], [850, 2]);
    await screenshot(page, 'dashboard-signed-transfer.png');
  }],

  ['the secret key never left the page; the signatures did', async () => {
    const posts = sentBodies.filter((body) => body.includes('"signature"'));
    assert.equal(posts.length, 2, `signed requests: ${JSON.stringify(sentBodies)}`);
    for (const body of sentBodies) assert.ok(!body.includes(alice.secret), `a request carried the key: ${body}`);
  }],

  ['a key that does not own the account is refused by the node, and nothing moves', async () => {
    await loadKey(mallory.file, `Signing as owner ${mallory.owner.slice(0, 16)}`);
    await send('Alice', 'Bob', 10, 'Refused: unauthorized');
    assert.equal((await account('Alice')).balance, 850);
  }],

  ['a file that is not an account key is refused by the page', async () => {
    await loadKey(genesis, 'not an account key');
    assert.equal(await page.getByRole('button', { name: 'Sign & send' }).isDisabled(), true);
    assert.deepEqual(pageErrors, []);
  }],
], async () => {
  await node.stop().catch(() => node.kill());
  await browser.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
