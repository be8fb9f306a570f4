// Owned accounts through the TypeScript client (docs/LEDGER.md, "Owners and
// signatures"): the documented signing-bytes test vector, then a real closed lattice
// (policy open_accounts false) whose Alice is owned by a key that the real
// `aethel account new` made. One node: what is tested is what the ledger accepts, and
// the ecosystem tests run one after another on small machines.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  AethelClient, AethelError, Ed25519Signer, TransactionFailedError, bytesToHex, signTransaction,
  transactionSigningBytes, verifyProof,
} from '../dist/index.js';
import { httpJson, makeTempDir, runAethel, startLattice, waitFor } from '../../../tests/dashboard/harness.mjs';

const SPLIT = fs.readFileSync(new URL('../../../examples/intents/split.ae', import.meta.url), 'utf8');

test('the documented test vector (docs/LEDGER.md, "Signing bytes")', async () => {
  const signer = await Ed25519Signer.fromSeed('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  assert.equal(bytesToHex(await signer.publicKey()), '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8');
  const latticeId = crypto.createHash('sha256').update('aethel test vector').digest('hex');
  assert.equal(latticeId, '5b2d48473937cedfe1b4afe6dd055b35ba26cd26040da4e01a90abae158b643c');
  const item = { id: 'tx-1', from: 'Alice', to: 'Bob', amount: 100, nonce: 1 };
  assert.equal(bytesToHex(transactionSigningBytes(latticeId, item)),
    '61657468656c2f7369672f76315b2d48473937cedfe1b4afe6dd055b35ba26cd26040da4e01a90abae158b643c000000000474782d31'
    + '00000000000000010000000005416c69636500000003426f6200000000000000640000000000');
  const signed = await signTransaction(signer, latticeId, item);
  assert.deepEqual(signed, { ...item, signature: 'aa63a3323f46540ee70a57f88469b0c15c27da4ca77bf27aacf982b4b152e66e'
    + '3aa87d9fd36bd25b297dd8754b157ad110addcfee81bcdb4fb91196397aa4a0b' });
  // The lattice id as bytes, an explicit client id and a bigint say the same.
  assert.deepEqual(transactionSigningBytes(Buffer.from(latticeId, 'hex'), { ...item, id: undefined, amount: 100n }, { clientId: 'tx-1' }),
    transactionSigningBytes(latticeId, item));
  const invalid = (f) => assert.throws(f, (e) => e instanceof AethelError && e.code === 'invalid_transaction');
  invalid(() => transactionSigningBytes('5b2d', item));
  invalid(() => transactionSigningBytes(latticeId, { ...item, amount: 2n ** 63n }));
  invalid(() => transactionSigningBytes(latticeId, { ...item, nonce: -1 }));
  invalid(() => transactionSigningBytes(latticeId, { kind: 'open_account', account: 'Zed', owner: '00' }));
  invalid(() => transactionSigningBytes(latticeId, { kind: 'set_owner', account: 'Zed', owner: '00'.repeat(32) }, { batch: true }));
});

let dir;
let nodes = [];
let client;
let alice;      // the Ed25519Signer of Alice's key file
let aliceHex;   // its public key as `aethel account new` printed it
let latticeId;

before(async () => {
  dir = makeTempDir('client-owned');
  const keyFile = path.join(dir, 'alice.jwk');
  const made = runAethel(['account', 'new', '--out', keyFile]);
  assert.equal(made.status, 0, made.stderr);
  aliceHex = made.stdout.match(/^[0-9a-f]{64}$/m)?.[0];
  assert.ok(aliceHex, `aethel account new printed no public key: ${made.stdout}`);
  alice = await Ed25519Signer.fromJwk(fs.readFileSync(keyFile, 'utf8'));
  const genesis = path.join(dir, 'genesis.json');
  fs.writeFileSync(genesis, JSON.stringify({
    accounts: { Alice: { balance: 1000, owner: aliceHex }, Bob: 500, Charlie: 250 },
    policy: { open_accounts: false },
  }));
  nodes = await startLattice({ count: 1, tag: 'client-owned', env: { AETHEL_GENESIS_FILE: genesis } });
  client = new AethelClient({ nodes: nodes.map((n) => n.url) });
  const members = await waitFor('a leader', async () => {
    const m = await client.members();
    return m.leader !== '' && m;
  }, 30000);
  latticeId = members.lattice_id;
});

after(async () => {
  for (const n of nodes) await n.stop().catch(() => n.kill());
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const balances = async () => Object.fromEntries(await Promise.all(['Alice', 'Bob', 'Charlie']
  .map(async (name) => [name, (await client.account(name)).balance])));

test('the key file of aethel account new loads non-extractable, and a wrong one is refused', async () => {
  assert.equal(bytesToHex(await alice.publicKey()), aliceHex);
  const jwk = JSON.parse(fs.readFileSync(path.join(dir, 'alice.jwk'), 'utf8'));
  const other = JSON.parse(JSON.stringify(await crypto.webcrypto.subtle.exportKey('jwk',
    (await crypto.webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign'])).publicKey)));
  const badKey = async (key) => assert.rejects(Ed25519Signer.fromJwk(key), (e) => e instanceof AethelError && e.code === 'bad_key');
  await badKey({ ...jwk, x: other.x });
  await badKey({ ...jwk, crv: 'X25519' });
  await badKey({ kty: 'OKP', crv: 'Ed25519', x: jwk.x });
  await badKey('not json');
});

test('an unsigned transfer from the owned Alice is refused: unauthorized, nothing changes', async () => {
  const before_ = await balances();
  const refused = await client.transfer({ from: 'Alice', to: 'Bob', amount: 10 }).catch((e) => e);
  assert.ok(refused instanceof TransactionFailedError, String(refused));
  assert.equal(refused.code, 'unauthorized');
  assert.deepEqual(await balances(), before_);
  assert.equal((await client.account('Alice')).nonce, 0);
});

test('signedTransfer signs with the nonce and lattice id it reads, and commits', async () => {
  const before_ = await balances();
  const result = await client.signedTransfer({ from: 'Alice', to: 'Bob', amount: 100, memo: 'signed' }, alice);
  assert.equal(result.status, 'committed');
  const after_ = await balances();
  assert.equal(after_.Alice, before_.Alice - 100);
  assert.equal(after_.Bob, before_.Bob + 100);
  assert.equal((await client.account('Alice')).nonce, 1);
  // Its id is signed: a retry with the same id is the same transaction, applied once.
  assert.equal((await client.transaction(result.id)).status, 'committed');
});

test('a signed item without id applies once: its replay fails bad_nonce', async () => {
  const nonce = (await client.account('Alice')).nonce + 1;
  const signed = await signTransaction(alice, latticeId, { from: 'Alice', to: 'Charlie', amount: 5, nonce });
  const send = async () => (await httpJson(`${client.node}/api/lattice/transactions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ transactions: [signed] }),
  })).body.results[0];
  assert.equal((await send()).code, 'committed');
  const before_ = await balances();
  const replay = await send();
  assert.equal(replay.code, 'bad_nonce', replay.message);
  assert.deepEqual(await balances(), before_);
});

test('verifyProof: the owned Alice (leaf 0x03 with her owner), and absences next to her', async () => {
  const { document, check } = await client.verifiedProof('Alice');
  assert.equal(check.ok, true, check.reason);
  assert.equal(document.owner, aliceHex);
  const altered = { ...document, owner: `${aliceHex[0] === '0' ? '1' : '0'}${aliceHex.slice(1)}` };
  assert.equal((await verifyProof(altered)).ok, false);
  const { owner: _, ...unowned } = document;
  assert.equal((await verifyProof(unowned)).ok, false, 'an owned leaf does not pass for an unowned one');
  // An absent name whose path ends at Alice's leaf: other_leaf with other_owner.
  const aliceKey = crypto.createHash('sha256').update('Alice').digest('hex');
  let absent;
  for (let i = 0; !absent && i < 64; i += 1) {
    const doc = await client.proof(`absent-${i}`);
    if (doc.proof.terminal === 'other_leaf' && doc.proof.other_key === aliceKey) absent = doc;
  }
  assert.ok(absent, 'no absent name of 64 ends at Alice');
  assert.equal(absent.proof.other_owner, aliceHex);
  assert.equal((await verifyProof(absent)).ok, true);
  assert.equal((await verifyProof({ ...absent, proof: { ...absent.proof, other_owner: '00'.repeat(32) } })).ok, false);
});

test('open_account and set_owner, signed in the client, commit; the proof shows the new owner', async () => {
  const first = await Ed25519Signer.generate();
  const second = await Ed25519Signer.generate();
  const open = await signTransaction(first, latticeId,
    { kind: 'open_account', id: 'open-dave', account: 'Dave', owner: bytesToHex(await first.publicKey()) });
  assert.equal((await client.submit([open])).results[0].code, 'committed');
  const rotate = await signTransaction(first, latticeId,
    { kind: 'set_owner', id: 'rotate-dave', account: 'Dave', owner: bytesToHex(await second.publicKey()), nonce: 1 });
  const rotated = (await client.submit([rotate])).results[0];
  assert.equal(rotated.code, 'committed', rotated.message);
  const { document, check } = await client.verifiedProof('Dave');
  assert.equal(check.ok, true, check.reason);
  assert.equal(document.owner, bytesToHex(await second.publicKey()));
});

test('a signed invocation of a deployed intent and a signed atomic batch commit through /api/verify', async () => {
  const deployed = await httpJson(`${client.node}/api/lattice/intents`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: SPLIT, id: 'deploy-split' }),
    timeoutMs: 120000,
  });
  assert.equal(deployed.status, 201, deployed.text);
  let nonce = (await client.account('Alice')).nonce + 1;
  const before_ = await balances();
  // Arguments are signed in the order the call writes them.
  const call = await signTransaction(alice, latticeId, { kind: 'invocation', id: 'split-1', intent: 'split', nonce,
    arguments: [['payer', 'Alice'], ['left', 'Bob'], ['right', 'Charlie'], ['amount', '11']] });
  const invoked = await client.verify('intent split { payer: Alice, left: Bob, right: Charlie, amount: 11, '
    + `id: "split-1", nonce: ${nonce}, signature: "${call.signature}" }`);
  assert.equal(invoked.status, 'PROVED', JSON.stringify(invoked.intents[0]));
  assert.equal(invoked.intents[0].transaction.status, 'committed');
  nonce += 1;
  // Each batch item is signed on its own, with the batch's kind and client id.
  const batch = { batch: true, clientId: 'batch-1' };
  const one = await signTransaction(alice, latticeId, { from: 'Alice', to: 'Bob', amount: 1, nonce }, batch);
  const two = await signTransaction(alice, latticeId, { from: 'Alice', to: 'Charlie', amount: 2, nonce: nonce + 1 }, batch);
  const batched = await client.verify(`atomic_batch pay {
    intent transfer { from: Alice, to: Bob, amount: 1, id: "batch-1", nonce: ${nonce}, signature: "${one.signature}" }
    intent transfer { from: Alice, to: Charlie, amount: 2, nonce: ${nonce + 1}, signature: "${two.signature}" }
  }`);
  assert.equal(batched.status, 'PROVED', JSON.stringify(batched.intents));
  assert.deepEqual(await balances(), { Alice: before_.Alice - 14, Bob: before_.Bob + 5 + 1, Charlie: before_.Charlie + 6 + 2 });
  assert.equal((await client.account('Alice')).nonce, nonce + 1);
});

test('the README\'s signing example runs against the closed lattice', async () => {
  const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const example = readme.match(/<!-- example: signed-transfer[^>]*-->\n```js\n([\s\S]*?)```/)[1];
  const script = example
    .replace("'@aethel/client'", JSON.stringify(new URL('../dist/index.js', import.meta.url).href))
    .replace("'alice.jwk'", JSON.stringify(path.join(dir, 'alice.jwk')))
    .replace(/\[[^\]]*node1:8000[^\]]*\]/, JSON.stringify(nodes.map((n) => n.url)));
  const bob = (await client.account('Bob')).balance;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^signed transfer [0-9a-f-]{36} committed at height \d+$/m);
  assert.equal((await client.account('Bob')).balance, bob + 5);
});
