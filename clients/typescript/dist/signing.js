// Ed25519 with WebCrypto (browsers and Node.js 20+ alike, no dependency): checking a
// node's signed state, and signing for owned accounts (SPEC §8).
//
// Why WebCrypto rather than an npm package: it ships with every runtime the client
// targets (Node.js >= 20, current Chromium, Firefox and Safari), so the client has no
// runtime dependency to audit or update, and in the dashboard a key loaded into the
// page can be made non-extractable (it never leaves the page). The dashboard signs
// with WebCrypto too (SPEC §8).
import { AethelError, VerificationError } from './errors.js';
import { bytesToHex, hexToBytes } from './merkle.js';
const encoder = new TextEncoder();
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
// PKCS#8 wrapping of a 32-byte Ed25519 seed (RFC 8410): WebCrypto imports no raw private keys.
const PKCS8_PREFIX = hexToBytes('302e020100300506032b657004220420');
function base58Decode(text) {
    let value = 0n;
    for (const c of text) {
        const digit = BASE58.indexOf(c);
        if (digit < 0)
            throw new VerificationError(`not base58: ${text}`);
        value = value * 58n + BigInt(digit);
    }
    const bytes = [];
    while (value > 0n) {
        bytes.unshift(Number(value & 0xffn));
        value >>= 8n;
    }
    for (const c of text) {
        if (c !== '1')
            break;
        bytes.unshift(0);
    }
    return new Uint8Array(bytes);
}
/**
 * The raw Ed25519 public key inside a libp2p peer ID (`12D3KooW...`: an identity
 * multihash of the protobuf PublicKey {Type: Ed25519, Data: 32 bytes}).
 */
export function publicKeyOfPeerId(peerId) {
    const bytes = base58Decode(peerId);
    const prefix = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    if (bytes.length !== 38 || !prefix.every((b, i) => bytes[i] === b)) {
        throw new VerificationError(`${peerId} is not an Ed25519 peer ID`);
    }
    return bytes.slice(6);
}
async function importPublicKey(raw) {
    return crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
}
/**
 * Checks a `/api/lattice/state` answer: Ed25519 by the node key over the ASCII bytes
 * `<merkle_root>:<height>:<timestamp>` (docs/API.md). The key is taken from the
 * answer's peer_id (and must equal its public_key); pass `peerId` to require a node
 * you trust. Throws VerificationError when anything does not hold.
 */
export async function verifyStateSignature(state, peerId = state.peer_id) {
    if (state.peer_id !== peerId)
        throw new VerificationError(`the state is signed by ${state.peer_id}, not by ${peerId}`);
    const key = publicKeyOfPeerId(peerId);
    if (bytesToHex(key) !== state.public_key)
        throw new VerificationError('public_key is not the key of peer_id');
    const text = `${state.merkle_root}:${state.height}:${state.timestamp}`;
    const ok = await crypto.subtle.verify('Ed25519', await importPublicKey(key), hexToBytes(state.signature), encoder.encode(text));
    if (!ok)
        throw new VerificationError(`bad signature by ${peerId} over ${text}`);
}
/** An Ed25519 key held by WebCrypto. */
export class Ed25519Signer {
    privateKey;
    rawPublic;
    constructor(privateKey, rawPublic) {
        this.privateKey = privateKey;
        this.rawPublic = rawPublic;
    }
    /** A new random key; `extractable` false keeps it inside this runtime. */
    static async generate(extractable = false) {
        const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']));
        const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
        if (extractable)
            return new Ed25519Signer(pair.privateKey, raw);
        const pkcs8 = await crypto.subtle.exportKey('pkcs8', pair.privateKey);
        const sealed = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
        return new Ed25519Signer(sealed, raw);
    }
    /** From the 32-byte seed (RFC 8032 private key), as bytes or 64 hex. */
    static async fromSeed(seed) {
        const bytes = typeof seed === 'string' ? hexToBytes(seed) : seed;
        if (bytes.length !== 32)
            throw new VerificationError('an Ed25519 seed is 32 bytes');
        const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
        pkcs8.set(PKCS8_PREFIX);
        pkcs8.set(bytes, PKCS8_PREFIX.length);
        // Imported extractable once, to read the public key (WebCrypto derives it), then sealed.
        const open = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
        const jwk = await crypto.subtle.exportKey('jwk', open);
        const raw = base64UrlDecode(jwk.x ?? '');
        const sealed = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
        return new Ed25519Signer(sealed, raw);
    }
    /**
     * From the key file `aethel account new` writes: a JWK {"kty": "OKP", "crv":
     * "Ed25519", "x", "d"} (base64url), as an object or its JSON text. The private key
     * is imported non-extractable; throws AethelError `bad_key` unless `x` is its public key.
     */
    static async fromJwk(jwk) {
        const badKey = (what) => new AethelError('bad_key', `not an account key: ${what}`);
        let key;
        try {
            key = typeof jwk === 'string' ? JSON.parse(jwk) : jwk;
        }
        catch {
            throw badKey('not JSON (an account key file is a JWK)');
        }
        if (key?.kty !== 'OKP' || key.crv !== 'Ed25519')
            throw badKey('needs "kty": "OKP", "crv": "Ed25519"');
        const base64Url32 = /^[A-Za-z0-9_-]{43}$/;
        if (!base64Url32.test(key.x ?? '') || !base64Url32.test(key.d ?? ''))
            throw badKey('"x" and "d" must be 32 bytes in base64url');
        let privateKey;
        try {
            // Only the key's own members: a file's "key_ops" or "ext" must not change how it is held.
            privateKey = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: key.x, d: key.d }, { name: 'Ed25519' }, false, ['sign']);
        }
        catch (error) {
            throw badKey(`WebCrypto refused it (${error.message}); is "x" the public key of "d"?`);
        }
        // Not every runtime checks x against d on import (Node.js does): a probe signature
        // that verifies under x shows that d is x's private key, whatever the runtime.
        const signer = new Ed25519Signer(privateKey, base64UrlDecode(key.x));
        const probe = encoder.encode('aethel/key-check');
        if (!(await verifyEd25519(signer.rawPublic, probe, await signer.sign(probe))))
            throw badKey('"x" is not the public key of "d"');
        return signer;
    }
    async publicKey() {
        return this.rawPublic;
    }
    async sign(message) {
        return new Uint8Array(await crypto.subtle.sign('Ed25519', this.privateKey, message));
    }
}
function base64UrlDecode(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
/** Verifies an Ed25519 signature by a raw 32-byte public key. */
export async function verifyEd25519(publicKey, message, signature) {
    return crypto.subtle.verify('Ed25519', await importPublicKey(publicKey), signature, message);
}
const DOMAIN = encoder.encode('aethel/sig/v1');
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;
const isAccountChange = (item) => item.kind === 'open_account' || item.kind === 'set_owner';
const invalid = (message) => new AethelError('invalid_transaction', message);
function integer(value, what, min, max) {
    if (typeof value === 'number' && !Number.isInteger(value))
        throw invalid(`${what} must be an integer, got ${value}`);
    const big = BigInt(value);
    if (big < min || big > max)
        throw invalid(`${what} ${big} is outside ${min}..${max}`);
    return big;
}
function fixedBytes(value, size, what) {
    const ok = typeof value === 'string' ? value.length === 2 * size && /^[0-9a-fA-F]*$/.test(value) : value.length === size;
    if (!ok)
        throw invalid(`${what} must be ${size} bytes (${2 * size} hex digits)`);
    return typeof value === 'string' ? hexToBytes(value) : value;
}
// Big-endian integers and u32-length-prefixed UTF-8 strings, as the ledger writes them.
class ByteWriter {
    parts = [];
    bytes(bytes) {
        this.parts.push(bytes);
        return this;
    }
    fixed(size, write) {
        const out = new Uint8Array(size);
        write(new DataView(out.buffer));
        return this.bytes(out);
    }
    u8(value) { return this.fixed(1, (v) => v.setUint8(0, value)); }
    u32(value) { return this.fixed(4, (v) => v.setUint32(0, value)); }
    u64(value) { return this.fixed(8, (v) => v.setBigUint64(0, value)); }
    i64(value) { return this.fixed(8, (v) => v.setBigInt64(0, value)); }
    str(text) {
        const bytes = encoder.encode(text);
        return this.u32(bytes.length).bytes(bytes);
    }
    take() {
        const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of this.parts) {
            out.set(p, at);
            at += p.length;
        }
        return out;
    }
}
/**
 * The bytes an owner signs for one item (docs/LEDGER.md, "Signing bytes"):
 * "aethel/sig/v1" | lattice id | kind | client id | nonce | the item | has_owner | owner.
 * `latticeId` is GET /api/lattice/members' `lattice_id` (64 hex) or its 32 bytes: it
 * binds the signature to one lattice. A missing nonce is signed as 0.
 */
export function transactionSigningBytes(latticeId, item, options = {}) {
    if (isAccountChange(item) && options.batch)
        throw invalid(`${item.kind} is a transaction of its own, never a batch item`);
    const kind = item.kind === 'open_account' ? 3 : item.kind === 'set_owner' ? 4 : options.batch ? 1 : 0;
    const out = new ByteWriter()
        .bytes(DOMAIN)
        .bytes(fixedBytes(latticeId, 32, 'the lattice id'))
        .u8(kind)
        .str(options.clientId ?? item.id ?? '')
        .u64(integer(item.nonce ?? 0, 'nonce', 0n, U64_MAX));
    if (item.kind === 'invocation') {
        const args = Array.isArray(item.arguments) ? item.arguments : Object.entries(item.arguments ?? {});
        out.u8(1).str(item.intent).str(item.memo ?? '').u32(args.length);
        for (const [name, value] of args)
            out.str(name).str(value);
        return out.u8(0).take();
    }
    if (isAccountChange(item)) {
        // The ledger holds both account changes as a transfer of 0: open_account names the
        // account as the receiver, set_owner as the sender; the owner key follows the item.
        const open = item.kind === 'open_account';
        out.u8(0).str(open ? '' : item.account).str(open ? item.account : '').i64(0n).str('');
        return out.u8(1).bytes(fixedBytes(item.owner, 32, 'owner')).take();
    }
    out.u8(0).str(item.from).str(item.to).i64(integer(item.amount, 'amount', I64_MIN, I64_MAX)).str(item.memo ?? '');
    return out.u8(0).take();
}
/**
 * Signs `item` with `signer`: resolves with the item and its `signature`, ready to
 * send (for an item of POST /api/lattice/transactions, as it is).
 */
export async function signTransaction(signer, latticeId, item, options = {}) {
    const signature = await signer.sign(transactionSigningBytes(latticeId, item, options));
    return { ...item, signature: bytesToHex(signature) };
}
