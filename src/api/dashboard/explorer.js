// Explorer of blocks, transactions and accounts (with the account's Merkle proof
// checked in this browser), and the deployed intents with a form to invoke one.
// Reads go through `ctx.read(path)` (app.js: the active node, then the others).
import { verifyProof } from './client/index.js';

const RECENT_BLOCKS = 10;
const $ = (selector) => document.querySelector(selector);

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined || text === '' ? '—' : String(text);
  return td;
}

function linkButton(label, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link';
  button.textContent = label;
  button.addEventListener('click', onClick);
  return button;
}

// One line for a block's transaction: transfers, calls of deployed intents, a deployment.
export function transfersText(tx) {
  if (tx.kind === 'deploy') {
    const name = /intent\s+([A-Za-z_][A-Za-z0-9_]*)/.exec(tx.intent_source || '');
    return `deploys ${name ? name[1] : 'an intent'}`;
  }
  return (tx.transfers || []).map((t) => {
    if (!t.intent) return `${t.from} → ${t.to}: ${t.amount}`;
    const args = Object.entries(t.arguments || {}).map(([k, v]) => `${k}: ${v}`).join(', ');
    return `${t.intent}(${args})`;
  }).join('; ');
}

// Shows `title` and `body` (JSON, pretty-printed) in the explorer's detail box.
function showDetail(title, body, verdict = null) {
  const box = $('#explorer-detail');
  box.hidden = false;
  const heading = document.createElement('h3');
  heading.textContent = title;
  const pre = document.createElement('pre');
  pre.className = 'mono';
  pre.textContent = JSON.stringify(body, null, 1);
  box.replaceChildren(heading, ...(verdict ? [verdict] : []), pre);
}

function failure(title, reply) {
  const message = reply.body?.error?.message || `HTTP ${reply.status}`;
  showDetail(title, reply.body || { error: message });
}

async function showBlock(ctx, height) {
  const reply = await ctx.read(`/api/lattice/blocks?from=${Number(height)}&limit=1`);
  const block = reply.body?.blocks?.[0];
  if (reply.status !== 200 || !block || block.height !== Number(height)) {
    failure(`Block ${height}: not held by ${reply.base}`, reply);
    return;
  }
  showDetail(`Block ${block.height} (from ${reply.base})`, block);
}

async function showTransaction(ctx, id) {
  const reply = await ctx.read(`/api/lattice/tx/${encodeURIComponent(id)}`);
  if (reply.status !== 200) return failure(`Transaction ${id}`, reply);
  return showDetail(`Transaction ${id} (from ${reply.base})`, reply.body);
}

// The account and its proof, checked here. Besides the root the document names, the
// verdict says which other nodes report that root at that height (a root is only
// worth what the nodes agreeing on it are worth).
async function showAccount(ctx, name) {
  const reply = await ctx.read(`/api/lattice/proof/${encodeURIComponent(name)}`);
  if (reply.status !== 200 || !reply.body) return failure(`Account ${name}`, reply);
  const proof = reply.body;
  const check = await verifyProof(proof);
  return showDetail(`Account ${name} (from ${reply.base})`, proof, renderVerdict(check, proof, ctx.rootsAt(proof.height)));
}

function renderVerdict(check, proof, roots) {
  const p = document.createElement('p');
  p.id = 'proof-verdict';
  p.dataset.ok = String(check.ok);
  p.className = check.ok ? 'verdict-ok' : 'verdict-fail';
  const agree = roots.filter((r) => r.root === proof.merkle_root).map((r) => r.name);
  const differ = roots.filter((r) => r.root !== proof.merkle_root).map((r) => r.name);
  let text = check.ok
    ? `✔ Merkle proof checked in this browser: ${check.reason} against root ${proof.merkle_root} at height ${proof.height}`
    : `✘ Merkle proof REFUSED in this browser: ${check.reason}`;
  if (agree.length) text += `; that root is reported by ${agree.join(', ')}`;
  if (differ.length) text += `; ${differ.join(', ')} report${differ.length === 1 ? 's' : ''} another root at height ${proof.height}`;
  p.textContent = text;
  return p;
}

/** The newest blocks (`blocks` ascending), each height and id opening its detail. */
export function renderBlocks(ctx, blocks) {
  const rows = blocks.slice(-RECENT_BLOCKS).reverse().map((block) => {
    const tr = document.createElement('tr');
    const first = document.createElement('td');
    first.appendChild(linkButton(String(block.height), () => showBlock(ctx, block.height)));
    const ids = document.createElement('td');
    for (const tx of block.transactions || []) {
      if (tx.id) ids.append(linkButton(tx.id.slice(0, 16), () => showTransaction(ctx, tx.id)), ' ');
    }
    tr.append(first, cell((block.transactions || []).length), ids,
      cell((block.transactions || []).map(transfersText).join(' | ')), cell(String(block.prev_root).slice(0, 16)));
    return tr;
  });
  $('#blocks tbody').replaceChildren(...rows);
}

// ---- deployed intents ---------------------------------------------------------

const VALUE = /^(?:[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+)$/;  // an account name or an integer

function intentForm(ctx, intent) {
  const form = document.createElement('form');
  form.className = 'intent-form';
  form.dataset.intent = intent.name;
  for (const param of intent.params || []) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.name = param.name;
    input.required = true;
    input.placeholder = param.type;
    label.append(`${param.name}: `, input);
    form.appendChild(label);
  }
  const button = document.createElement('button');
  button.type = 'submit';
  button.textContent = `Invoke ${intent.name}`;
  form.appendChild(button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = (intent.params || []).map((p) => [p.name, form.elements[p.name].value.trim()]);
    const bad = values.find(([, v]) => !VALUE.test(v));
    if (bad) {
      ctx.showResult({ status: 0, body: { error: { code: 'bad_value', message: `${bad[0]}: an account name or an integer` } } });
      return;
    }
    ctx.submit(`intent ${intent.name} { ${values.map(([n, v]) => `${n}: ${v}`).join(', ')} }`);
  });
  return form;
}

/** GET /api/lattice/intents; a node without the route (404) has none to show. */
export async function refreshIntents(ctx) {
  const list = $('#intents-list');
  const reply = await ctx.read('/api/lattice/intents');
  const intents = reply.status === 200 && Array.isArray(reply.body?.intents) ? reply.body.intents : [];
  const key = JSON.stringify(intents);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  $('#intents-empty').hidden = intents.length > 0;
  list.replaceChildren(...intents.map((intent) => {
    const li = document.createElement('li');
    const head = document.createElement('p');
    const params = (intent.params || []).map((p) => `${p.name}: ${p.type}`).join(', ');
    head.textContent = `${intent.name} v${intent.version} (${params}) — deployed at height ${intent.deployed_at_height} by ${intent.deployed_by}`;
    const source = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = 'source';
    const pre = document.createElement('pre');
    pre.className = 'mono';
    pre.textContent = intent.source;
    source.append(summary, pre);
    li.append(head, source, intentForm(ctx, intent));
    return li;
  }));
}

export function initExplorer(ctx) {
  $('#explorer').addEventListener('submit', (event) => {
    event.preventDefault();
    const query = $('#explorer-query').value.trim();
    if (!query) return;
    const kind = $('#explorer-kind').value;
    if (kind === 'block') showBlock(ctx, query);
    else if (kind === 'tx') showTransaction(ctx, query);
    else showAccount(ctx, query);
  });
}
