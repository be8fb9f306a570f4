// The TypeScript client (its compiled dist/) against a real 3-node lattice started by
// this test (`aethel node` processes on loopback, AETHEL_BINARY set by ctest): reads
// with signature and proof checks, leader-agnostic writes, failover across URLs, a
// write whose answer was lost retried safely with its id, typed errors, live events
// that follow the lattice when the node they read from is killed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, test } from 'node:test';

import {
  AethelClient, ApiError, Ed25519Signer, NetworkError, OutcomeUnknownError, TransactionFailedError,
  VerificationError, bytesToHex, publicKeyOfPeerId, verifyEd25519, verifyProof,
  verifyStateSignature,
} from '../dist/index.js';
import { freePort, startLattice, waitFor, waitForLeader } from '../../../tests/dashboard/harness.mjs';

let nodes = [];
let urls = [];
let leader;
let followers;

before(async () => {
  nodes = await startLattice({ tag: 'client' });
  urls = nodes.map((n) => n.url);
  leader = await waitForLeader(urls);
  followers = urls.filter((u) => u !== leader);
});

after(async () => {
  for (const n of nodes) await n.stop().catch(() => n.kill());
});

test('reads: root, signed state checked with WebCrypto, accounts, blocks', async () => {
  const client = new AethelClient({ nodes: urls });
  const root = await client.root();
  assert.equal(root.name, 'Aethel Lattice');
  assert.ok(['leader', 'follower'].includes(root.role));
  const state = await client.state({ limit: 10, verify: true });
  assert.equal(state.signed, true);
  await verifyStateSignature(state, state.peer_id);
  const forged = { ...state, height: state.height + 1 };
  await assert.rejects(verifyStateSignature(forged), VerificationError);
  const otherNode = (await new AethelClient({ nodes: [urls[1]] }).root()).peer_id;
  if (otherNode !== state.peer_id) await assert.rejects(verifyStateSignature(state, otherNode), VerificationError);
  assert.equal(bytesToHex(publicKeyOfPeerId(state.peer_id)), state.public_key);
  const bob = await client.account('Bob');
  assert.equal(typeof bob.balance, 'number');
  const blocks = await client.blocks({ from: 1, limit: 5 });
  assert.ok(Array.isArray(blocks.blocks));
});

test('Merkle proofs are checked in the client: inclusion, exclusion, tampering', async () => {
  const client = new AethelClient({ nodes: urls });
  const { document, check } = await client.verifiedProof('Alice');
  assert.equal(check.ok, true, check.reason);
  assert.equal(check.exists, true);
  const absent = await client.verifiedProof('Nobody-at-all');
  assert.equal(absent.check.ok, true, absent.check.reason);
  assert.equal(absent.check.exists, false);
  const tampered = await verifyProof({ ...document, balance: document.balance + 1 });
  assert.equal(tampered.ok, false);
  assert.match(tampered.reason, /folds to/);
  const wrongRoot = await verifyProof(document, '00'.repeat(32));
  assert.equal(wrongRoot.ok, false);
  // With deployed intents the state root is SHA-256(0x02 || accounts root || intents root).
  const intentsRoot = crypto.randomBytes(32);
  const stateRoot = crypto.createHash('sha256')
    .update(Buffer.concat([Buffer.from([2]), Buffer.from(document.merkle_root, 'hex'), intentsRoot])).digest('hex');
  const withIntents = { ...document, intents_root: intentsRoot.toString('hex'), merkle_root: stateRoot };
  assert.equal((await verifyProof(withIntents)).ok, true);
  assert.equal((await verifyProof({ ...document, intents_root: intentsRoot.toString('hex') })).ok, false);
});

test('a write sent to a follower commits (leader-agnostic) and all nodes agree', async () => {
  const client = new AethelClient({ nodes: [followers[0], ...urls] });
  const before_ = await client.account('Bob');
  const result = await client.transfer({ from: 'Alice', to: 'Bob', amount: 7 });
  assert.equal(result.status, 'committed');
  assert.match(result.id, /^[0-9a-f-]{36}$/, 'a client id was given');
  assert.equal(client.node, followers[0], 'the follower answered');
  const after_ = await client.account('Bob');
  assert.equal(after_.balance, before_.balance + 7);
  await waitFor('every node at the new root', async () => {
    const roots = await Promise.all(urls.map((u) => new AethelClient({ nodes: [u] }).state({ limit: 0 })));
    return roots.every((s) => s.merkle_root === result.merkle_root);
  }, 20000);
});

test('reads: linearizable by default, stale on request, min_height, and 503 failed over', async () => {
  const seen = [];
  const recording = async (input, init) => { seen.push(String(input)); return fetch(input, init); };
  const client = new AethelClient({ nodes: urls, fetch: recording });
  const written = await client.transfer({ from: 'Alice', to: 'Charlie', amount: 2 });
  const charlie = await client.account('Charlie');
  assert.ok(!seen.at(-1).includes('consistency'), 'linearizable is the node default: no query');
  const stale = await client.account('Charlie', { stale: true, minHeight: written.height });
  assert.match(seen.at(-1), /\/api\/lattice\/accounts\/Charlie\?consistency=stale&min_height=\d+$/);
  assert.equal(stale.balance, charlie.balance, 'min_height: the stale read includes the write');
  const state = await new AethelClient({ nodes: urls, fetch: recording, consistency: 'stale' }).state({ limit: 0 });
  assert.match(seen.at(-1), /state\?limit=0&consistency=stale$/);
  assert.ok(state.height >= written.height);
  const far = await new AethelClient({ nodes: [urls[0]] }).state({ limit: 0, stale: true, minHeight: written.height + 1000000 }).catch((e) => e);
  assert.ok(far instanceof ApiError, String(far));
  assert.equal(far.status, 503);
  assert.equal(far.code, 'not_caught_up');
  // A node that cannot confirm a read (no majority) answers 503 unavailable: the next answers.
  const first = urls[0];
  const refusing = async (input, init) => (String(input).startsWith(first)
    ? new Response(JSON.stringify({ success: false, error: { code: 'unavailable', message: 'no majority (test)' }, height: 1 }), { status: 503 })
    : fetch(input, init));
  const failover = new AethelClient({ nodes: urls, fetch: refusing });
  assert.equal((await failover.account('Charlie')).balance, charlie.balance);
  assert.notEqual(failover.node, first);
});

test('failover: a dead URL first in the list is skipped', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const client = new AethelClient({ nodes: [dead, ...urls], timeoutMs: 2000 });
  const state = await client.state({ limit: 0 });
  assert.match(state.merkle_root, /^[0-9a-f]{64}$/);
  assert.equal(client.node, urls[0], 'the next URL answered and is now preferred');
  const result = await client.transfer({ from: 'Alice', to: 'Charlie', amount: 1 });
  assert.equal(result.status, 'committed');
  await assert.rejects(new AethelClient({ nodes: [dead], timeoutMs: 2000 }).root(), NetworkError);
});

test('a write whose answer is lost is retried with the same id and applies once', async () => {
  let calls = 0;
  // The first answer is replaced by what a client sees when the connection or the
  // quorum's answer is lost after the node committed: 503 "outcome": "unknown".
  const lossy = async (input, init) => {
    const response = await fetch(input, init);
    if (String(input).endsWith('/api/lattice/transactions') && calls++ === 0) {
      await response.text();
      return new Response(JSON.stringify({ success: false, outcome: 'unknown',
        error: { code: 'unavailable', message: 'the answer was lost (test)' } }), { status: 503 });
    }
    return response;
  };
  const client = new AethelClient({ nodes: urls, fetch: lossy, retryDelayMs: 10 });
  const bob = (await client.account('Bob')).balance;
  const id = `retry-${Date.now()}`;
  const result = await client.submit([{ id, from: 'Alice', to: 'Bob', amount: 3 }]);
  assert.equal(calls, 2, 'sent twice');
  assert.equal(result.results[0].id, id);
  assert.equal(result.results[0].status, 'committed');
  assert.equal(result.results[0].exists, true, 'the retry found the first attempt committed');
  assert.equal((await client.account('Bob')).balance, bob + 3, 'applied exactly once');
  assert.equal((await client.transaction(id)).status, 'committed');

  const neverAnswers = async () => new Response(JSON.stringify({ success: false, outcome: 'unknown',
    error: { code: 'unavailable', message: 'no quorum (test)' } }), { status: 503 });
  const stuck = new AethelClient({ nodes: urls, fetch: neverAnswers, retries: 2, retryDelayMs: 1 });
  const error = await stuck.submit([{ id: 'stuck-1', from: 'Alice', to: 'Bob', amount: 1 }]).catch((e) => e);
  assert.ok(error instanceof OutcomeUnknownError, String(error));
  assert.deepEqual(error.ids, ['stuck-1']);
  assert.equal(error.attempts, 3);
});

test('typed errors: unknown account, refused transfer, bad request', async () => {
  const client = new AethelClient({ nodes: urls });
  const missing = await client.account('Nobody').catch((e) => e);
  assert.ok(missing instanceof ApiError);
  assert.equal(missing.status, 404);
  assert.equal(missing.code, 'unknown_account');
  const refused = await client.transfer({ from: 'Charlie', to: 'Bob', amount: 1_000_000 }).catch((e) => e);
  assert.ok(refused instanceof TransactionFailedError, String(refused));
  assert.equal(refused.code, 'insufficient_funds');
  const bad = await client.submit([]).catch((e) => e);
  assert.ok(bad instanceof ApiError);
  assert.equal(bad.status, 400);
  const verified = await client.verify('intent transfer { from: Alice, to: Bob, amount: 2 }');
  assert.equal(verified.status, 'PROVED');
  assert.equal(verified.intents[0].transaction.status, 'committed');
});

test('signing: WebCrypto Ed25519 keys (owned accounts: owned.test.mjs)', async () => {
  // RFC 8032, section 7.1, test 1.
  const signer = await Ed25519Signer.fromSeed('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  assert.equal(bytesToHex(await signer.publicKey()), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const signature = await signer.sign(new Uint8Array());
  assert.equal(bytesToHex(signature), 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
  const fresh = await Ed25519Signer.generate();
  const message = new TextEncoder().encode('aethel');
  assert.equal(await verifyEd25519(await fresh.publicKey(), message, await fresh.sign(message)), true);
});

test('events: a commit arrives, and the stream moves on when its node is killed', async () => {
  // Start on a follower, so that killing it leaves a quorum that still commits.
  const victim = followers[1];
  const order = [victim, ...urls.filter((u) => u !== victim)];
  const client = new AethelClient({ nodes: order });
  const seen = [];
  const disconnects = [];
  const subscription = client.subscribe({
    onEvent: (event) => seen.push(event),
    onDisconnect: (node, reason) => disconnects.push({ node, reason }),
  }, { reconnectDelayMs: 100 });
  try {
    await waitFor('a hello from the first node', () => seen.find((e) => e.type === 'hello' && e.node === victim), 10000);
    const hello = seen.find((e) => e.type === 'hello');
    assert.match(hello.data.merkle_root, /^[0-9a-f]{64}$/);
    assert.equal(hello.data.links.length, 2);
    const writer = new AethelClient({ nodes: [leader] });
    const sent = Date.now();
    const first = await writer.transfer({ from: 'Alice', to: 'Bob', amount: 1 });
    const commit = await waitFor('the commit event', () => seen.find((e) => e.type === 'commit' && e.data.height === first.height), 5000);
    assert.equal(commit.data.merkle_root, first.merkle_root);
    assert.ok(commit.data.timestamp >= sent - 1000);

    nodes[urls.indexOf(victim)].kill();  // SIGKILL: no goodbye
    await waitFor('the stream on another node', () => seen.find((e) => e.type === 'hello' && e.node !== victim), 15000);
    assert.ok(disconnects.some((d) => d.node === victim), JSON.stringify(disconnects));
    const second = await writer.transfer({ from: 'Alice', to: 'Bob', amount: 1 });
    const later = await waitFor('a commit from the new node', () => seen.find((e) => e.type === 'commit' && e.data.height === second.height), 5000);
    assert.notEqual(later.node, victim);
  } finally {
    subscription.close();
    await subscription.done;
  }
});

test('docs/API.md\'s example runs: a transfer with failover past a dead first URL', async () => {
  const docs = fs.readFileSync(new URL('../../../docs/API.md', import.meta.url), 'utf8');
  const example = docs.match(/<!-- example: transfer-with-failover[^>]*-->\n```js\n([\s\S]*?)```/)[1];
  assert.ok(example.trim().split('\n').length <= 10, 'the example has at most 10 lines');
  const live = nodes.filter((n) => !n.exit).map((n) => n.url);
  const dead = `http://127.0.0.1:${await freePort()}`;
  const script = example
    .replace("'@aethel/client'", JSON.stringify(new URL('../dist/index.js', import.meta.url).href))
    .replace(/\[[^\]]*node1\.example\.com[^\]]*\]/, JSON.stringify([dead, ...live]));
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^height \d+: Bob has \d+ \(answered by http:\/\/127\.0\.0\.1:\d+\)$/m);
  assert.ok(!run.stdout.includes(dead), 'the dead node did not answer');
});
