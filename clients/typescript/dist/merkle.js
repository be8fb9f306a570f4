const encoder = new TextEncoder();
const EMPTY = new Uint8Array(32);
async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}
export function hexToBytes(hex) {
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex))
        throw new Error(`not hex: ${hex.slice(0, 16)}`);
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i += 1)
        out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    return out;
}
export function bytesToHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
        out.set(p, at);
        at += p.length;
    }
    return out;
}
function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
}
const bit = (key, i) => ((key[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
/** balance as int64 two's complement big-endian, then nonce as uint64 big-endian. */
function accountValue(balance, nonce) {
    const out = new Uint8Array(16);
    const view = new DataView(out.buffer);
    view.setBigInt64(0, BigInt(balance));
    view.setBigUint64(8, BigInt(nonce));
    return out;
}
// An owned account's leaf (0x03) commits to its owner too, so a proof shows who may
// debit it, and no unowned leaf (0x00) can stand in for it.
async function leafHash(key, balance, nonce, owner) {
    if (owner)
        return sha256(concat(new Uint8Array([3]), key, accountValue(balance, nonce), owner));
    return sha256(concat(new Uint8Array([0]), key, accountValue(balance, nonce)));
}
const isKey = (hex) => typeof hex === 'string' && /^[0-9a-fA-F]{64}$/.test(hex);
/**
 * Checks `document` (as the API serves it) against `root` (64 hex; by default the
 * document's own merkle_root). Never throws for a bad proof: `ok` is false with the reason.
 */
export async function verifyProof(document, root = document.merkle_root) {
    const fail = (reason) => ({ ok: false, reason, exists: document.exists });
    const { proof } = document;
    if (proof.version !== 1)
        return fail(`unknown proof version ${String(proof.version)}`);
    const siblings = proof.siblings.map(hexToBytes);
    const depth = siblings.length;
    if (depth > 256)
        return fail('deeper than 256');
    if (depth > 0 && equal(siblings[depth - 1], EMPTY))
        return fail('not minimal: the deepest sibling is empty');
    const key = await sha256(encoder.encode(document.name));
    let h;
    if (proof.terminal === 'leaf') {
        if (!document.exists || document.balance === undefined || document.nonce === undefined) {
            return fail('a leaf terminal proves an account that exists, with its balance and nonce');
        }
        if (document.owner !== undefined && !isKey(document.owner))
            return fail('owner is not 64 hex digits');
        h = await leafHash(key, document.balance, document.nonce, document.owner === undefined ? undefined : hexToBytes(document.owner));
    }
    else if (proof.terminal === 'empty') {
        if (document.exists)
            return fail('an empty terminal proves absence');
        h = EMPTY;
    }
    else if (proof.terminal === 'other_leaf') {
        if (document.exists)
            return fail('an other_leaf terminal proves absence');
        if (!proof.other_key || proof.other_balance === undefined || proof.other_nonce === undefined) {
            return fail('other_leaf needs other_key, other_balance and other_nonce');
        }
        const other = hexToBytes(proof.other_key);
        if (equal(other, key))
            return fail('other_key is the key of the account itself');
        for (let d = 0; d < depth; d += 1) {
            if (bit(other, d) !== bit(key, d))
                return fail(`other_key leaves the path at depth ${d}`);
        }
        if (proof.other_owner !== undefined && !isKey(proof.other_owner))
            return fail('other_owner is not 64 hex digits');
        h = await leafHash(other, proof.other_balance, proof.other_nonce, proof.other_owner === undefined ? undefined : hexToBytes(proof.other_owner));
    }
    else {
        return fail(`unknown terminal ${String(proof.terminal)}`);
    }
    for (let d = depth - 1; d >= 0; d -= 1) {
        const sibling = siblings[d];
        h = await sha256(bit(key, d) === 0 ? concat(new Uint8Array([1]), h, sibling) : concat(new Uint8Array([1]), sibling, h));
    }
    // A lattice with deployed intents commits to two trees: the document carries
    // intents_root and the state root is SHA-256(0x02 || accounts root || intents root).
    const intentsRoot = document.intents_root;
    if (intentsRoot !== undefined) {
        if (!/^[0-9a-fA-F]{64}$/.test(intentsRoot))
            return fail('intents_root is not 64 hex digits');
        h = await sha256(concat(new Uint8Array([2]), h, hexToBytes(intentsRoot)));
    }
    if (bytesToHex(h) !== root.toLowerCase())
        return fail(`the proof folds to ${bytesToHex(h)}, not to the root ${root}`);
    return { ok: true, reason: document.exists ? 'inclusion proved' : 'absence proved', exists: document.exists };
}
