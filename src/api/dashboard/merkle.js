// The Merkle proof check of docs/MERKLE.md §3, in the browser with WebCrypto SHA-256.
// The same steps as clients/typescript/src/merkle.ts (verifyProof), which the page
// cannot import without a TypeScript build in the node's build (see app.js).
//
// A lattice with deployed intents commits to two trees: its proof documents carry
// `intents_root` (64 hex) and the state root is SHA-256(0x02 || accounts root ||
// intents root). Without that member the state root is the accounts root.

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(32);
const LEAF = 0x00;
const INTERIOR = 0x01;
const STATE = 0x02;

async function sha256(...parts) {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { bytes.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

function hexToBytes(hex) {
  if (typeof hex !== 'string' || hex.length !== 64 || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw new Error(`not 64 hex digits: ${String(hex).slice(0, 20)}`);
  }
  return Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const bit = (key, i) => (key[i >> 3] >> (7 - (i & 7))) & 1;

// balance as int64 two's complement big-endian, then nonce as uint64 big-endian.
function leafHash(key, balance, nonce) {
  const value = new Uint8Array(16);
  const view = new DataView(value.buffer);
  view.setBigInt64(0, BigInt(balance));
  view.setBigUint64(8, BigInt(nonce));
  return sha256(Uint8Array.of(LEAF), key, value);
}

// Step 2: the hash the walk starts from, or throws why the terminal does not fit.
async function terminalHash(document, key, depth) {
  const { proof } = document;
  if (proof.terminal === 'leaf') {
    if (document.exists !== true || document.balance === undefined || document.nonce === undefined) {
      throw new Error('a leaf terminal proves an account that exists, with its balance and nonce');
    }
    return leafHash(key, document.balance, document.nonce);
  }
  if (document.exists !== false) throw new Error(`a ${proof.terminal} terminal proves absence`);
  if (proof.terminal === 'empty') return EMPTY;
  if (proof.terminal !== 'other_leaf') throw new Error(`unknown terminal ${String(proof.terminal)}`);
  const other = hexToBytes(proof.other_key);
  if (equal(other, key)) throw new Error('other_key is the key of the account itself');
  for (let d = 0; d < depth; d += 1) {
    if (bit(other, d) !== bit(key, d)) throw new Error(`other_key leaves the path at depth ${d}`);
  }
  if (!(proof.other_balance >= 0)) throw new Error('other_balance must be >= 0');
  return leafHash(other, proof.other_balance, proof.other_nonce);
}

/** The state root `document` (as GET /api/lattice/proof/{name} serves it) folds to. */
export async function foldProof(document) {
  const { proof } = document;
  if (!proof || proof.version !== 1) throw new Error(`unknown proof version ${String(proof?.version)}`);
  const siblings = proof.siblings.map(hexToBytes);
  const depth = siblings.length;
  if (depth > 256) throw new Error('deeper than 256');
  if (depth > 0 && equal(siblings[depth - 1], EMPTY)) throw new Error('not minimal: the deepest sibling is empty');
  const key = await sha256(encoder.encode(document.name));
  let h = await terminalHash(document, key, depth);
  for (let d = depth - 1; d >= 0; d -= 1) {
    h = bit(key, d) === 0 ? await sha256(Uint8Array.of(INTERIOR), h, siblings[d])
      : await sha256(Uint8Array.of(INTERIOR), siblings[d], h);
  }
  if (document.intents_root !== undefined) h = await sha256(Uint8Array.of(STATE), h, hexToBytes(document.intents_root));
  return bytesToHex(h);
}

/**
 * Checks `document` against `root` (64 hex; by default its own merkle_root).
 * Never throws: {ok, reason}.
 */
export async function verifyProof(document, root = document.merkle_root) {
  if (!globalThis.crypto?.subtle) {
    return { ok: false, reason: 'WebCrypto is unavailable: browsers offer it on HTTPS or localhost pages only' };
  }
  try {
    const folded = await foldProof(document);
    if (folded !== String(root).toLowerCase()) {
      return { ok: false, reason: `the proof folds to ${folded}, not to the root ${root}` };
    }
    return { ok: true, reason: document.exists ? 'inclusion proved' : 'absence proved' };
  } catch (error) {
    return { ok: false, reason: error.message };
  }
}
