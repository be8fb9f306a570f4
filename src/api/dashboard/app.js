// Aethel Lattice dashboard (SPEC §7). Vanilla JS modules, no build step: app.js
// (polling, cards, submit, live events), charts.js (SVG charts over time), explorer.js
// (blocks, transactions, accounts with their Merkle proof checked here, deployed
// intents), and the TypeScript client (clients/typescript, its committed dist/ served
// under /dashboard/client/), which sends the page's writes and checks its proofs.
//
// Every second it asks one node for the network view (GET /api/lattice/network: that
// node's fan-out to every node). Until a node has that route (404) it builds a one-node
// view from GET / and GET /api/lattice/state?limit=0. The serving node is tried first;
// when it does not answer, every other node URL learned so far is tried in turn, so an
// open page keeps updating while any node is up. Other nodes are other origins: the
// API answers with Access-Control-Allow-Origin: *, and writes are sent as simple
// requests (no preflight). The admin sync switch is the exception: it carries the
// node's bearer token and goes to the serving node only (same origin; admin answers
// have no CORS header).
import {
  bucketDelta, bucketSum, drawLines, drawTimeline, parseHistogram, quantile, trim, trimTimeline,
} from './charts.js';
import {
  AethelClient, AethelError, ApiError, Ed25519Signer, TransactionFailedError, bytesToHex,
} from './client/index.js';
import { initExplorer, refreshIntents, renderBlocks, transfersText } from './explorer.js';

(() => {
  const POLL_INTERVAL_MS = 1000;
  const FETCH_TIMEOUT_MS = 2500;
  const VERIFY_TIMEOUT_MS = 60000;  // SMT checks and a commit can take a while
  const NODES_REFRESH_MS = 10000;  // how often GET /api/lattice/nodes is asked again
  const RECENT_BLOCKS = 20;
  const MAX_TX_ROWS = 50;

  const BANNERS = {
    green: 'Network Status: 🟢 Resilient (P2P Mode)',
    yellow: 'Network Status: 🟡 Resilient (HTTP Fallback)',
    red: 'Network Status: 🔴 Degraded',
  };

  const state = {
    urls: [normalizeUrl(location.origin)],  // known node base URLs, in the order learned
    active: normalizeUrl(location.origin),   // the node the last good view came from
    nodes: [],                               // the last view, one entry per node
    nodesAskedAt: 0,
    txKey: '',
    names: new Map(),                        // node URL -> the name it answered with
    intentsAskedAt: 0,
    requestedMode: null,
  };

  const $ = (selector) => document.querySelector(selector);

  function normalizeUrl(url) {
    return String(url || '').replace(/\/+$/, '');
  }

  function learn(urls) {
    for (const raw of urls) {
      const url = normalizeUrl(raw);
      if (/^https?:\/\//.test(url) && !state.urls.includes(url)) state.urls.push(url);
    }
  }

  // One request with a deadline. Resolves {status, body} (body null when not JSON);
  // rejects when the node cannot be reached or the deadline passes.
  async function fetchJson(base, path, options = {}, timeoutMs = FETCH_TIMEOUT_MS) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await fetch(base + path, {
        cache: 'no-store', ...options, signal: controller.signal,
      });
      const text = await response.text();
      let body = null;
      try { body = JSON.parse(text); } catch { body = null; }
      return { status: response.status, body };
    } finally {
      clearTimeout(timer);
    }
  }

  // A node's last sync: the freshest of its peers' (each an age in ms: when that peer's
  // height and root last reached the node, over gossip or an HTTP poll).
  function freshestSync(peers) {
    const ages = (Array.isArray(peers) ? peers : []).map((p) => p.last_sync_ms)
      .filter((age) => typeof age === 'number');
    return ages.length ? Math.min(...ages) : null;
  }

  function normalizeNode(node) {
    return {
      url: normalizeUrl(node.url),
      name: node.name || node.node_name || node.url || '?',
      reachable: node.reachable !== false,
      peer_id: node.peer_id ?? null,
      role: node.role ?? null,
      sync_mode: node.sync_mode ?? null,
      peer_count: node.peer_count ?? null,
      heartbeat_active: node.heartbeat_active ?? null,
      height: node.height ?? null,
      merkle_root: node.merkle_root ?? null,
      last_sync_ms: node.last_sync_ms ?? freshestSync(node.peers),
      peers: Array.isArray(node.peers) ? node.peers : [],
      error: node.error || null,
    };
  }

  // The view of the network as `base` sees it; throws when `base` cannot give one.
  async function fetchView(base) {
    const network = await fetchJson(base, '/api/lattice/network');
    if (network.status === 200 && network.body && Array.isArray(network.body.nodes)) {
      const nodes = network.body.nodes.map(normalizeNode);
      learn(nodes.map((n) => n.url));
      return { lattice: true, nodes };
    }
    if (network.status !== 404) throw new Error(`/api/lattice/network answered ${network.status}`);

    // No lattice routes yet: this node alone.
    const [root, ledger, p2p] = await Promise.all([
      fetchJson(base, '/'),
      fetchJson(base, '/api/lattice/state?limit=0&consistency=stale'),
      fetchJson(base, '/api/lattice/p2p/status').catch(() => null),
    ]);
    if (root.status !== 200 || !root.body) throw new Error(`GET / answered ${root.status}`);
    if (ledger.status !== 200 || !ledger.body) throw new Error(`GET /api/lattice/state answered ${ledger.status}`);
    const status = p2p && p2p.status === 200 && p2p.body ? p2p.body : {};
    return {
      lattice: false,
      nodes: [normalizeNode({
        url: base,
        name: root.body.node_name,
        reachable: true,
        peer_id: root.body.peer_id,
        role: root.body.role,
        sync_mode: status.sync_mode,
        peer_count: status.peer_count,
        heartbeat_active: status.heartbeat_active,
        peers: status.peers,
        height: ledger.body.height,
        merkle_root: ledger.body.merkle_root,
        last_sync_ms: null,
        error: null,
      })],
    };
  }

  async function learnNodes(base) {
    if (Date.now() - state.nodesAskedAt < NODES_REFRESH_MS) return;
    state.nodesAskedAt = Date.now();
    try {
      const reply = await fetchJson(base, '/api/lattice/nodes');
      if (reply.status === 200 && reply.body && Array.isArray(reply.body.nodes)) {
        learn([reply.body.self, ...reply.body.nodes.map((n) => n.url)].filter(Boolean));
      }
    } catch {
      // Unreachable now: the next poll tries again elsewhere.
    }
  }

  // ---------------------------------------------------------------------------
  // Assessment
  // ---------------------------------------------------------------------------

  // URLs of nodes whose root differs from the most common root among the reachable
  // nodes at the same height.
  function mismatchedUrls(nodes) {
    const byHeight = new Map();
    for (const n of nodes) {
      if (!n.reachable || n.height === null || !n.merkle_root) continue;
      if (!byHeight.has(n.height)) byHeight.set(n.height, []);
      byHeight.get(n.height).push(n);
    }
    const out = new Set();
    for (const group of byHeight.values()) {
      const counts = new Map();
      for (const n of group) counts.set(n.merkle_root, (counts.get(n.merkle_root) || 0) + 1);
      if (counts.size < 2) continue;
      const top = Math.max(...counts.values());
      const leaders = [...counts.entries()].filter(([, c]) => c === top);
      // A tie has no majority: every root of the group is suspect.
      for (const n of group) {
        if (leaders.length > 1 || n.merkle_root !== leaders[0][0]) out.add(n.url);
      }
    }
    return out;
  }

  function isDown(node) {
    return !node.reachable || Boolean(node.error);
  }

  function assess(nodes) {
    const mismatched = mismatchedUrls(nodes);
    if (nodes.length === 0) return { level: 'red', detail: 'no node answers', mismatched };
    const down = nodes.filter(isDown);
    if (down.length > 0) {
      return {
        level: 'red',
        detail: `${down.length} of ${nodes.length} node${nodes.length === 1 ? '' : 's'} unreachable or unhealthy: ${down.map((n) => n.name).join(', ')}`,
        mismatched,
      };
    }
    if (mismatched.size > 0) {
      return { level: 'red', detail: 'merkle roots differ at the same height', mismatched };
    }
    const modes = nodes.map((n) => String(n.sync_mode || '').toUpperCase());
    if (modes.every((m) => m === 'P2P')) {
      return { level: 'green', detail: `${nodes.length} node${nodes.length === 1 ? '' : 's'} in sync over P2P`, mismatched };
    }
    const http = nodes.filter((n, i) => modes[i] === 'HTTP').map((n) => n.name);
    const other = nodes.filter((n, i) => modes[i] !== 'HTTP' && modes[i] !== 'P2P').map((n) => n.name);
    const parts = [];
    if (http.length) parts.push(`HTTP sync on ${http.join(', ')}`);
    if (other.length) parts.push(`not on P2P yet: ${other.join(', ')}`);
    return { level: 'yellow', detail: parts.join('; '), mismatched };
  }

  // ---------------------------------------------------------------------------
  // Rendering (textContent only: nothing a node sends is parsed as HTML)
  // ---------------------------------------------------------------------------

  function formatLastSync(ms) {
    if (ms === null || ms === undefined) return '—';
    // A Unix time in ms, or an age in ms: either way, show how long ago.
    const age = ms > 1e12 ? Date.now() - ms : ms;
    if (age < 1000) return 'just now';
    if (age < 120000) return `${(age / 1000).toFixed(0)} s ago`;
    return `${Math.round(age / 60000)} min ago`;
  }

  function text(value) {
    return value === null || value === undefined || value === '' ? '—' : String(value);
  }

  function renderBanner(assessment) {
    const banner = $('#banner');
    banner.textContent = BANNERS[assessment.level];
    banner.dataset.state = assessment.level;
    banner.className = `banner banner-${assessment.level}`;
    banner.title = assessment.detail;
    $('#banner-detail').textContent = assessment.detail;
  }

  function renderCards(nodes, mismatched) {
    const list = $('#nodes');
    const template = $('#card-template');
    const existing = new Map([...list.children].map((li) => [li.dataset.url, li]));
    const wanted = new Set();
    for (const node of nodes) {
      const key = node.url || node.name;
      wanted.add(key);
      let card = existing.get(key);
      if (!card) {
        card = template.content.firstElementChild.cloneNode(true);
        card.dataset.url = key;
      }
      list.appendChild(card);  // keeps the view's order
      const down = isDown(node);
      const mismatch = mismatched.has(node.url);
      card.classList.toggle('down', down);
      card.classList.toggle('mismatch', mismatch);
      card.dataset.state = down ? 'down' : mismatch ? 'mismatch' : 'up';
      card.querySelector('.card-name').textContent = node.name;
      card.querySelector('.card-url').textContent = node.url;
      const set = (field, value) => { card.querySelector(`[data-field="${field}"]`).textContent = value; };
      set('status', !node.reachable ? '🔴 Unreachable' : node.error ? '🔴 Unhealthy' : '🟢 Up');
      set('role', text(node.role));
      set('sync_mode', text(node.sync_mode && String(node.sync_mode).toUpperCase()));
      set('peer_count', text(node.peer_count));
      set('heartbeat', node.heartbeat_active === null ? '—' : node.heartbeat_active ? 'active' : 'inactive');
      set('height', text(node.height));
      set('merkle_root', text(node.merkle_root));
      set('last_sync', formatLastSync(node.last_sync_ms));
      const root = card.querySelector('[data-field="merkle_root"]');
      root.classList.toggle('mismatch', mismatch);
      root.title = mismatch ? 'differs from the other nodes at this height' : '';
      const error = card.querySelector('.card-error');
      error.hidden = !node.error;
      error.textContent = node.error ? `Error: ${node.error}` : '';
    }
    for (const [key, card] of existing) if (!wanted.has(key)) card.remove();
  }

  function render(nodes, source) {
    // A node that does not answer has no name in the view: keep the one it had.
    for (const node of nodes) {
      if (node.reachable && !node.error) state.names.set(node.url, node.name);
      else if (state.names.has(node.url)) node.name = state.names.get(node.url);
    }
    state.nodes = nodes;
    record(nodes);
    const assessment = assess(nodes);
    renderBanner(assessment);
    renderCards(nodes, assessment.mismatched);
    $('#source').textContent = source || 'no node answers';
    const updated = $('#updated');
    const now = new Date();
    updated.dateTime = now.toISOString();
    updated.textContent = now.toLocaleTimeString();
  }

  async function refreshTransactions(base, nodes) {
    const self = nodes.find((n) => n.url === base && n.reachable) || nodes.find((n) => n.reachable);
    if (!self || self.height === null) return;
    const height = Number(self.height);
    const key = `${base}@${height}`;
    if (key === state.txKey) return;
    const from = Math.max(1, height - RECENT_BLOCKS + 1);
    const reply = await fetchJson(base, `/api/lattice/blocks?from=${from}&limit=${RECENT_BLOCKS}`);
    if (reply.status !== 200 || !reply.body || !Array.isArray(reply.body.blocks)) return;
    state.txKey = key;
    const rows = [];
    for (const block of [...reply.body.blocks].reverse()) {
      for (const tx of [...(block.transactions || [])].reverse()) {
        rows.push([block.height, tx.id || '—', tx.kind, transfersText(tx)]);
      }
    }
    const body = $('#transactions tbody');
    body.replaceChildren(...rows.slice(0, MAX_TX_ROWS).map((cells) => {
      const tr = document.createElement('tr');
      for (const cell of cells) {
        const td = document.createElement('td');
        td.textContent = text(cell);
        tr.appendChild(td);
      }
      return tr;
    }));
    $('#tx-empty').hidden = rows.length > 0;
    renderBlocks(explorer, reply.body.blocks);
  }

  // ---------------------------------------------------------------------------
  // Polling with failover
  // ---------------------------------------------------------------------------

  async function pollOnce() {
    const order = [state.active, ...state.urls.filter((u) => u !== state.active)];
    const failed = [];
    for (const base of order) {
      let view;
      try {
        view = await fetchView(base);
      } catch (error) {
        failed.push(base);
        continue;
      }
      state.active = base;
      // Nodes this view has not heard of but we did, and that failed just now: down.
      const nodes = view.nodes.slice();
      if (!view.lattice) {
        for (const url of failed) {
          const known = state.nodes.find((n) => n.url === url);
          nodes.push({ ...(known || normalizeNode({ url, name: url })), reachable: false, error: 'not answering' });
        }
      }
      render(nodes, base);
      await learnNodes(base);
      try { await refreshTransactions(base, nodes); } catch { /* next poll */ }
      sampleLatency(nodes);  // not awaited: a slow /metrics must not hold the poll
      if (Date.now() - state.intentsAskedAt >= NODES_REFRESH_MS) {
        state.intentsAskedAt = Date.now();
        refreshIntents(explorer).catch(() => { /* next time */ });
      }
      return;
    }
    // Nobody answered: keep the last known cards, every one down.
    const nodes = (state.nodes.length ? state.nodes : state.urls.map((url) => normalizeNode({ url, name: url })))
      .map((n) => ({ ...n, reachable: false, error: 'not answering' }));
    render(nodes, null);
  }

  let pollTimer = null;
  let polling = false;
  async function poll() {
    clearTimeout(pollTimer);
    if (polling) return;
    polling = true;
    try {
      await pollOnce();
    } finally {
      polling = false;
      pollTimer = setTimeout(poll, POLL_INTERVAL_MS);
    }
  }

  // ---------------------------------------------------------------------------
  // Controls
  // ---------------------------------------------------------------------------

  // An admin route (SPEC §9): it needs the node's bearer token and its answers carry
  // no CORS header, so only the node that served this page can be switched from here
  // (the others with `aethel admin switch MODE --node URL`). The token stays in the page.
  async function switchMode(mode, label) {
    const out = $('#sync-result');
    const token = $('#admin-token').value.trim();
    if (!token) {
      out.textContent = `${label}: enter this node's admin token first (its data/admin.token)`;
      return;
    }
    const origin = window.location.origin;
    out.textContent = `${label}: sending to ${origin}…`;
    let message = null;
    try {
      const reply = await fetchJson(origin, `/api/lattice/sync/switch?mode=${mode}`,
        { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      if (reply.status !== 200) {
        message = reply.body && reply.body.error ? reply.body.error.message : `HTTP ${reply.status}`;
      }
    } catch (error) {
      message = 'not answering';
    }
    out.textContent = message ? `${label}: refused by ${origin} — ${message}`
      : `${label}: accepted by ${origin} (switch the other nodes with their own token: aethel admin switch ${mode} --node URL)`;
    if (!message) {
      state.requestedMode = mode;
      for (const button of document.querySelectorAll('.sync-buttons button')) {
        button.setAttribute('aria-pressed', String(button.dataset.mode === mode));
      }
    }
    poll();
  }

  function newRoot(body) {
    let root = null;
    let height = null;
    for (const intent of body.intents || []) {
      const tx = intent.transaction;
      if (tx && tx.committed && tx.merkle_root) {
        root = tx.merkle_root;
        height = tx.height ?? height;
      }
    }
    return { root, height };
  }

  function renderResult(reply) {
    const box = $('#result');
    box.hidden = false;
    box.replaceChildren();
    const body = reply.body || {};
    const status = body.status || (body.error ? body.error.code : `HTTP ${reply.status}`);
    const ok = reply.status === 200 && body.success === true;
    box.className = `result ${ok ? 'result-ok' : 'result-fail'}`;
    box.dataset.status = status;

    const head = document.createElement('p');
    head.className = 'result-status';
    const strong = document.createElement('strong');
    strong.id = 'result-status';
    strong.textContent = status;
    head.append(strong, ` — ${body.message || (body.error && body.error.message) || ''}`);
    box.appendChild(head);

    const intents = body.intents || [];
    if (intents.length) {
      const list = document.createElement('ul');
      list.className = 'intents';
      for (const intent of intents) {
        const li = document.createElement('li');
        const tx = intent.transaction;
        let line = `${intent.name} (${intent.kind}): ${intent.status}`;
        if (intent.message) line += ` — ${intent.message}`;
        if (tx && tx.code) {
          const where = tx.height ? ` at height ${tx.height}` : '';
          line += tx.code === 'committed' ? ` · committed${where}` : ` · ledger refused: ${tx.code}${where}`;
        }
        li.textContent = line;
        list.appendChild(li);
      }
      box.appendChild(list);
    }
    for (const error of body.errors || []) {
      const p = document.createElement('p');
      p.textContent = `line ${error.line}, column ${error.column}: ${error.message}`;
      box.appendChild(p);
    }
    const { root, height } = newRoot(body);
    if (root) {
      const p = document.createElement('p');
      p.append('New root: ');
      const code = document.createElement('code');
      code.id = 'result-root';
      code.className = 'mono';
      code.textContent = root;
      p.appendChild(code);
      if (height !== null) p.append(` at height ${height}`);
      box.appendChild(p);
    }
  }

  // Sends `code` to POST /api/verify and shows the answer under the editor.
  async function submit(code) {
    const button = $('#submit');
    button.disabled = true;
    $('#editor').setAttribute('aria-busy', 'true');
    try {
      let reply;
      try {
        // To the active node only, never retried elsewhere: a transfer that reached a
        // node before it failed may still commit (the client retries only writes
        // that carry ids, and this code may not).
        const client = new AethelClient({ nodes: [state.active], retries: 0, timeoutMs: VERIFY_TIMEOUT_MS });
        reply = { status: 200, body: await client.verify(code) };
      } catch (error) {
        reply = error instanceof ApiError
          ? { status: error.status, body: error.body }
          : { status: 0, body: { error: { code: 'unreachable', message: `${state.active}: ${error.message}; the outcome is unknown` } } };
      }
      renderResult(reply);
    } finally {
      button.disabled = false;
      $('#editor').removeAttribute('aria-busy');
      poll();
    }
  }

  // ---- signed transfers (SPEC §8) ------------------------------------------------
  // The key file is read into a non-extractable WebCrypto key: it is never sent, never
  // stored, and gone with the page. WebCrypto exists only in secure contexts (https,
  // or a page from localhost).
  const signing = { signer: null };

  function showSignedResult(ok, lines) {
    const box = $('#signed-result');
    box.hidden = false;
    box.className = `result ${ok ? 'result-ok' : 'result-fail'}`;
    box.replaceChildren(...lines.map((line) => {
      const p = document.createElement('p');
      p.textContent = line;
      return p;
    }));
  }

  async function loadKey(file) {
    const status = $('#key-status');
    signing.signer = null;
    $('#signed-submit').disabled = true;
    if (!window.isSecureContext || !globalThis.crypto?.subtle) {
      status.textContent = 'This page cannot sign: browsers offer WebCrypto only over https or from localhost.';
      return;
    }
    try {
      signing.signer = await Ed25519Signer.fromJwk(await file.text());
      const owner = bytesToHex(await signing.signer.publicKey());
      status.dataset.owner = owner;
      status.textContent = `Signing as owner ${owner.slice(0, 16)}… (key held in this page only).`;
      $('#signed-submit').disabled = false;
    } catch (error) {
      delete status.dataset.owner;
      status.textContent = `${file.name}: ${error.message}`;
    }
  }

  // Signs a transfer in the page and sends it to the active node.
  async function sendSigned() {
    const item = {
      from: $('#signed-from').value.trim(),
      to: $('#signed-to').value.trim(),
      amount: Number($('#signed-amount').value),
    };
    const button = $('#signed-submit');
    button.disabled = true;
    const box = $('#signed-result');
    box.className = 'result';
    box.textContent = 'Signing and sending…';
    try {
      const client = new AethelClient({ nodes: [state.active], timeoutMs: VERIFY_TIMEOUT_MS });
      const outcome = await client.signedTransfer(item, signing.signer);
      showSignedResult(true, [
        `Committed: ${item.amount} from ${item.from} to ${item.to}, signed in this page.`,
        `Transaction ${outcome.id} at height ${outcome.height}; new root ${outcome.merkle_root}`,
      ]);
    } catch (error) {
      const code = error instanceof AethelError ? error.code : 'unreachable';
      const detail = error instanceof TransactionFailedError ? error.outcome.message : error.message;
      showSignedResult(false, [`Refused: ${code}`, detail]);
    } finally {
      button.disabled = !signing.signer;
      poll();
    }
  }

  // A read from the active node, then from the others: {status, body, base}.
  async function read(path) {
    let last = { status: 0, body: { error: { message: 'no node answers' } }, base: null };
    for (const base of [state.active, ...state.urls.filter((u) => u !== state.active)]) {
      try {
        const reply = await fetchJson(base, path);
        if (reply.status !== 503) return { ...reply, base };
        last = { ...reply, base };
      } catch {
        last.body.error.message = `${base} did not answer`;
      }
    }
    return last;
  }

  // What the explorer needs of the page.
  const explorer = {
    read,
    submit,
    showResult: renderResult,
    // The roots the last view's nodes report at `height`: [{name, root}].
    rootsAt: (height) => state.nodes.filter((n) => n.reachable && n.height === height && n.merkle_root)
      .map((n) => ({ name: n.name, root: n.merkle_root })),
  };

  // ---- charts over time (charts.js) ----------------------------------------------
  // Heights and peer links come with every network view; commit latency from the
  // aethel_commit_latency_seconds histogram of every reachable node's /metrics: the
  // new observations of the last LATENCY_WINDOW_MS, summed over the nodes.
  const LATENCY_WINDOW_MS = 10000;
  const history = {
    heights: new Map(),     // node name -> [[t_ms, height]]
    links: new Map(),       // "node → peer" -> [[t_ms, transport]] (changes only)
    latency: { p50: [], p99: [] },           // [[t_ms, ms | null]]
    buckets: new Map(),     // node url -> its last cumulative buckets
    deltas: [],             // [[t_ms, buckets of the new observations]]
  };

  function pushSample(map, key, t_ms, value, changesOnly = false) {
    if (!map.has(key)) map.set(key, []);
    const samples = map.get(key);
    if (!changesOnly || samples.at(-1)?.[1] !== value) samples.push([t_ms, value]);
  }

  function record(nodes) {
    const now_ms = Date.now();
    for (const node of nodes) {
      pushSample(history.heights, node.name, now_ms, node.reachable ? node.height ?? null : null);
      if (isDown(node)) {  // its links are unknown while it does not answer
        for (const name of history.links.keys()) {
          if (name.startsWith(`${node.name} → `)) pushSample(history.links, name, now_ms, 'unknown', true);
        }
        continue;
      }
      for (const peer of node.peers) {
        const name = `${node.name} → ${peer.name || String(peer.peer_id).slice(-6)}`;
        pushSample(history.links, name, now_ms, peer.transport || 'unknown', true);
      }
    }
    drawCharts(now_ms);
  }

  async function sampleLatency(nodes) {
    const replies = await Promise.all(nodes.filter((n) => n.reachable && n.url).map(async (n) => {
      try {
        const response = await fetch(`${n.url}/metrics`, { cache: 'no-store', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
        return [n.url, parseHistogram(await response.text(), 'aethel_commit_latency_seconds')];
      } catch {
        return null;
      }
    }));
    const now_ms = Date.now();
    const fresh = [];
    for (const [url, buckets] of replies.filter(Boolean)) {
      if (history.buckets.has(url)) fresh.push(bucketDelta(buckets, history.buckets.get(url)));
      history.buckets.set(url, buckets);
    }
    history.deltas.push([now_ms, bucketSum(fresh)]);
    while (history.deltas[0][0] < now_ms - LATENCY_WINDOW_MS) history.deltas.shift();
    const window = bucketSum(history.deltas.map((d) => d[1]));
    for (const [key, q] of [['p50', 0.5], ['p99', 0.99]]) {
      const seconds = quantile(window, q);
      history.latency[key].push([now_ms, seconds === null ? null : seconds * 1000]);
    }
    drawCharts(now_ms);
  }

  function drawCharts(now_ms) {
    for (const samples of [...history.heights.values(), ...Object.values(history.latency)]) trim(samples, now_ms);
    for (const [name, samples] of history.heights) if (samples.length === 0) history.heights.delete(name);
    for (const samples of history.links.values()) trimTimeline(samples, now_ms);
    drawLines($('#heights-chart'), [...history.heights].map(([name, samples]) => ({ name, samples })), { now_ms });
    drawLines($('#latency-chart'), Object.entries(history.latency).map(([name, samples]) => ({ name, samples })),
      { unit: ' ms', now_ms });
    drawTimeline($('#links-chart'), [...history.links].sort().map(([name, samples]) => ({ name, samples })), { now_ms });
  }

  // ---- live commits: GET /api/lattice/events (server-sent events) ---------------
  // Plain SVG, no charting library: one bar per second for the last minute. The
  // stream reads from the active node; when it fails, the next known URL is tried.
  const CHART_SECONDS = 60;
  const live = { source: null, index: 0, perSecond: new Map(), total: 0 };

  function drawChart() {
    const svg = $('#commit-chart');
    const now = Math.floor(Date.now() / 1000);
    const counts = [];
    for (let s = now - CHART_SECONDS + 1; s <= now; s += 1) counts.push(live.perSecond.get(s) || 0);
    for (const s of live.perSecond.keys()) if (s <= now - CHART_SECONDS) live.perSecond.delete(s);
    const max = Math.max(1, ...counts);
    const width = 600 / CHART_SECONDS;
    svg.replaceChildren(...counts.map((count, i) => {
      const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      const h = (count / max) * 76;
      rect.setAttribute('x', String(i * width));
      rect.setAttribute('y', String(80 - h));
      rect.setAttribute('width', String(width - 1));
      rect.setAttribute('height', String(h));
      return rect;
    }));
    svg.dataset.total = String(live.total);
  }

  function onCommit(event) {
    const data = JSON.parse(event.data);
    const second = Math.floor(data.timestamp / 1000);
    live.perSecond.set(second, (live.perSecond.get(second) || 0) + 1);
    live.total += 1;
    const last = $('#live-last');
    last.textContent = `height ${data.height}, ${data.committed} of ${data.transactions} committed`;
    last.dataset.height = String(data.height);
    // Applied on the node → shown here (one host, one clock, in tests on loopback).
    last.dataset.deliveryMs = String(Date.now() - data.timestamp);
    drawChart();
  }

  function startEvents() {
    const url = state.urls[live.index % state.urls.length];
    const source = new EventSource(`${url}/api/lattice/events`);
    live.source = source;
    source.addEventListener('hello', () => { $('#live-status').textContent = `streaming from ${url}`; });
    source.addEventListener('commit', onCommit);
    source.onerror = () => {
      if (live.source !== source) return;
      source.close();
      $('#live-status').textContent = `${url} stopped streaming; trying the next node`;
      live.index += 1;
      setTimeout(startEvents, 1000);
    };
  }

  function init() {
    for (const button of document.querySelectorAll('.sync-buttons button')) {
      button.addEventListener('click', () => switchMode(button.dataset.mode, button.textContent));
    }
    $('#editor').addEventListener('submit', (event) => {
      event.preventDefault();
      submit($('#code').value);
    });
    initExplorer(explorer);
    $('#key-file').addEventListener('change', (event) => {
      const [file] = event.target.files;
      if (file) loadKey(file);
    });
    $('#signed-transfer').addEventListener('submit', (event) => {
      event.preventDefault();
      if (signing.signer) sendSigned();
    });
    $('#code').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) $('#editor').requestSubmit();
    });
    poll();
    startEvents();
    setInterval(drawChart, POLL_INTERVAL_MS);
  }

  init();
})();
