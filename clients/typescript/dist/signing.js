// Ed25519 with WebCrypto (browsers and Node.js 20+ alike, no dependency): checking a
// node's signed state, and signing for owned accounts (SPEC §8).
//
// Why WebCrypto rather than an npm package: it ships with every runtime the client
// targets (Node.js >= 20, current Chromium, Firefox and Safari), so the client has no
// runtime dependency to audit or update, and in the dashboard a key loaded into the
// page can be made non-extractable (it never leaves the page). The dashboard signs
// with WebCrypto too (SPEC §8).
import { VerificationError } from './errors.js';
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
/**
 * The canonical bytes an owner signs for a transaction (SPEC §8: lattice id, the
 * transaction's content, id, nonce).
 *
 * TODO(SPEC §8): docs/API.md does not document these bytes yet (owned accounts are
 * being built); until it does, signing refuses rather than guess an encoding that a
 * node would reject. When they are documented: build them here, add `nonce` and
 * `signature` to TransferItem in src/api/openapi.json, regenerate, and test against
 * a lattice with an owned account.
 */
export function transactionSigningBytes(_latticeId, _transfer, _id, _nonce) {
    throw new VerificationError('signing owned-account transactions is not available yet: the signed bytes (SPEC §8) are not documented in docs/API.md');
}
/** Signs a transaction for an owned account with `signer` (see transactionSigningBytes). */
export async function signTransaction(signer, latticeId, transfer, id, nonce) {
    const signature = await signer.sign(transactionSigningBytes(latticeId, transfer, id, nonce));
    return { nonce, signature: bytesToHex(signature) };
}
