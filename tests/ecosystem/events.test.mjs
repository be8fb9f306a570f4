// GET /api/lattice/events (SPEC §7, issue 16) against a real 3-node lattice: at most
// 256 streams per node (the next is refused with 503); a stream starts with a hello; every commit arrives as a "commit" event, in order and
// without gaps, soon after the write is answered; a client that does not read is
// evicted once its buffer (AETHEL_EVENTS_BUFFER_BYTES, small here) is full, while a
// client that reads keeps its stream; killing the leader shows on a follower's
// stream as a "link" event (the leader's link goes down) and a "role" event of a
// later term, and the stream keeps delivering commits of the new leader.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';

import { httpJson, startLattice, waitFor, waitForLeader } from '../dashboard/harness.mjs';
import { SseReader } from './sse.mjs';

const BUFFER_BYTES = 4096;
let nodes = [];
let urls = [];
let leader;

before(async () => {
  nodes = await startLattice({ tag: 'events', env: { AETHEL_EVENTS_BUFFER_BYTES: String(BUFFER_BYTES) } });
  urls = nodes.map((n) => n.url);
  leader = await waitForLeader(urls);
});

after(async () => {
  for (const n of nodes) await n.stop().catch(() => n.kill());
});

async function metric(node, name) {
  const text = (await httpJson(`${node}/metrics`)).text;
  const match = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return match ? Number(match[1]) : NaN;
}

async function transfer(node, amount = 1) {
  const reply = await httpJson(`${node}/api/lattice/transactions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ transactions: [{ from: 'Alice', to: 'Bob', amount }] }),
  });
  assert.equal(reply.status, 200, reply.text);
  return reply.body;
}

// A client that connects with a 2 KiB receive buffer, asks for the stream and reads
// nothing until told to (a line on its stdin); then it reads what is left and says
// whether the server had ended the connection: "closed N" / "reset N" / "open N".
function startSlowClient(port) {
  const code = `
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.connect(('127.0.0.1', ${port}))
s.sendall(b'GET /api/lattice/events HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n')
print('sent', flush=True)
sys.stdin.readline()
s.settimeout(5)
n = 0
try:
    while True:
        b = s.recv(65536)
        if not b:
            print('closed', n, flush=True)
            break
        n += len(b)
except socket.timeout:
    print('open', n, flush=True)
except ConnectionResetError:
    print('reset', n, flush=True)
`;
  const child = spawn('python3', ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.lines = [];
  // Whole lines only: a line may arrive in several chunks (print writes its parts one
  // by one when Python's output is unbuffered), and a verdict cut short fails the test.
  let partial = '';
  child.stdout.on('data', (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    child.lines.push(...lines.filter((l) => l.trim()));
  });
  return child;
}

test('at most 256 streams per node: the next one is refused with 503 too_many_streams', async () => {
  const code = `
import socket, sys
socks = []
for i in range(257):
    s = socket.create_connection(('127.0.0.1', ${new URL(leader).port}))
    s.sendall(b'GET /api/lattice/events HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n')
    socks.append(s)
answers = []
for s in socks:
    s.settimeout(10)
    data = b''
    while b'\\r\\n\\r\\n' not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b'\\r\\n\\r\\n')[0]
    status = head.split(b' ')[1].decode() if data else 'none'
    while status != '200' and b'too_many_streams' not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    answers.append(status + ('/too_many_streams' if b'too_many_streams' in data else ''))
print(' '.join(answers), flush=True)
sys.stdin.readline()
`;
  const child = spawn('python3', ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  try {
    await waitFor('257 answers', () => out.includes('\n'), 30000);
    const answers = out.trim().split(' ');
    assert.equal(answers.filter((a) => a === '200').length, 256, out.slice(0, 300));
    assert.deepEqual(answers.filter((a) => a !== '200'), ['503/too_many_streams']);
    assert.equal(await metric(leader, 'aethel_events_clients'), 256);
  } finally {
    child.kill();
  }
  await waitFor('every stream noticed gone', async () => (await metric(leader, 'aethel_events_clients')) === 0, 10000);
});

test('hello, then every commit in order and without gaps; a reader that stalls is evicted', async () => {
  const port = new URL(leader).port;
  const fast = new SseReader(leader);
  const slow = startSlowClient(port);
  try {
    await waitFor('the hello', () => fast.of('hello').length === 1, 10000);
    assert.equal(fast.status, 200);
    assert.equal(fast.headers.get('content-type'), 'text/event-stream');
    const hello = fast.of('hello')[0].data;
    assert.equal(hello.role, 'leader');
    assert.equal(hello.links.length, 2);
    await waitFor('both streams counted', async () => (await metric(leader, 'aethel_events_clients')) === 2, 10000);
    assert.equal(await metric(leader, 'aethel_events_evictions_total'), 0);

    // One write answered, then its commit event: the delay is what a page sees.
    const first = await transfer(leader);
    const answered = Date.now();
    const commit = await waitFor('the commit event', () => fast.of('commit').find((e) => e.data.height === first.height), 5000);
    console.log(`commit event ${commit.at - answered} ms after the write's answer`);
    assert.ok(commit.at - answered < 1000, `commit event ${commit.at - answered} ms after the answer`);
    assert.equal(commit.data.merkle_root, first.merkle_root);

    // Writes until the slow client is evicted (its kernel buffers, then its 4 KiB queue).
    let writes = 1;
    while ((await metric(leader, 'aethel_events_evictions_total')) < 1) {
      assert.ok(writes < 3000, 'the slow client was never evicted');
      for (let i = 0; i < 20; i += 1, writes += 1) await transfer(leader, 1 + (writes % 2));
    }
    console.log(`evicted after ${writes} writes`);
    const last = await transfer(leader);
    await waitFor('the last commit on the fast stream', () => fast.of('commit').some((e) => e.data.height === last.height), 5000);
    assert.equal(await metric(leader, 'aethel_events_clients'), 1, 'the fast client keeps its stream');
    assert.equal(fast.ended, null);

    const heights = fast.of('commit').map((e) => e.data.height);
    for (let i = 1; i < heights.length; i += 1) assert.equal(heights[i], heights[i - 1] + 1, `gap after ${heights[i - 1]}`);
    assert.ok(heights.length >= writes, `${heights.length} commits for ${writes + 1} writes`);
    const ids = fast.events.map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids increase');

    slow.stdin.write('read\n');
    const verdict = await waitFor('the slow client to finish reading', () => slow.lines.find((l) => /^(closed|reset|open)/.test(l)), 15000);
    assert.match(verdict, /^(closed|reset) /, `the server left the evicted stream open: ${verdict}`);
  } finally {
    slow.kill();
    await fast.close();
  }
});

test('killing the leader: a follower reports the link down and a new role, and keeps streaming commits', async () => {
  const followers = urls.filter((u) => u !== leader);
  const streams = followers.map((u) => new SseReader(u));
  try {
    await waitFor('hellos on both followers', () => streams.every((s) => s.of('hello').length === 1), 10000);
    const leaderPeer = (await httpJson(`${leader}/`)).body.peer_id;
    const term = streams[0].of('hello')[0].data.term;
    nodes[urls.indexOf(leader)].kill();  // SIGKILL: no goodbye

    const down = await waitFor('a link event: the old leader down', () => streams[0].of('link')
      .find((e) => e.data.peer_id === leaderPeer && e.data.transport === 'down'), 20000);
    assert.notEqual(down.data.previous, 'down');
    const newLeader = await waitForLeader(followers, 30000);
    // The new leader's own stream says so.
    const own = streams[followers.indexOf(newLeader)];
    const role = await waitFor('a role event: leader of a later term', () => own.of('role').find((e) => e.data.term > term && e.data.role === 'leader'), 10000);

    const written = await transfer(newLeader);
    for (const s of streams) {
      await waitFor(`the commit on ${s.node}`, () => s.of('commit').some((e) => e.data.height === written.height), 5000);
      assert.equal(s.ended, null);
    }
  } finally {
    for (const s of streams) await s.close();
  }
});
