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
import type { components } from './openapi.js';

export type State = components['schemas']['State'];

const encoder = new TextEncoder();
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
// PKCS#8 wrapping of a 32-byte Ed25519 seed (RFC 8410): WebCrypto imports no raw private keys.
const PKCS8_PREFIX = hexToBytes('302e020100300506032b657004220420');

function base58Decode(text: string): Uint8Array {
  let value = 0n;
  for (const c of text) {
    const digit = BASE58.indexOf(c);
    if (digit < 0) throw new VerificationError(`not base58: ${text}`);
    value = value * 58n + BigInt(digit);
  }
  const bytes: number[] = [];
  while (value > 0n) {
    bytes.unshift(Number(value & 0xffn));
    value >>= 8n;
  }
  for (const c of text) {
    if (c !== '1') break;
    bytes.unshift(0);
  }
  return new Uint8Array(bytes);
}

/**
 * The raw Ed25519 public key inside a libp2p peer ID (`12D3KooW...`: an identity
 * multihash of the protobuf PublicKey {Type: Ed25519, Data: 32 bytes}).
 */
export function publicKeyOfPeerId(peerId: string): Uint8Array {
  const bytes = base58Decode(peerId);
  const prefix = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
  if (bytes.length !== 38 || !prefix.every((b, i) => bytes[i] === b)) {
    throw new VerificationError(`${peerId} is not an Ed25519 peer ID`);
  }
  return bytes.slice(6);
}

async function importPublicKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw as BufferSource, { name: 'Ed25519' }, false, ['verify']);
}

/**
 * Checks a `/api/lattice/state` answer: Ed25519 by the node key over the ASCII bytes
 * `<merkle_root>:<height>:<timestamp>` (docs/API.md). The key is taken from the
 * answer's peer_id (and must equal its public_key); pass `peerId` to require a node
 * you trust. Throws VerificationError when anything does not hold.
 */
export async function verifyStateSignature(state: State, peerId: string = state.peer_id): Promise<void> {
  if (state.peer_id !== peerId) throw new VerificationError(`the state is signed by ${state.peer_id}, not by ${peerId}`);
  const key = publicKeyOfPeerId(peerId);
  if (bytesToHex(key) !== state.public_key) throw new VerificationError('public_key is not the key of peer_id');
  const text = `${state.merkle_root}:${state.height}:${state.timestamp}`;
  const ok = await crypto.subtle.verify('Ed25519', await importPublicKey(key), hexToBytes(state.signature) as BufferSource,
    encoder.encode(text) as BufferSource);
  if (!ok) throw new VerificationError(`bad signature by ${peerId} over ${text}`);
}

/**
 * What signs for an owned account (SPEC §8). Anything that can produce Ed25519
 * signatures fits: a key in the page (Ed25519Signer), a hardware token, a remote
 * signer.
 */
export interface Signer {
  /** The owner key: 32 bytes, as a genesis or set_owner names it (64 hex). */
  publicKey(): Promise<Uint8Array>;
  /** Ed25519 (RFC 8032, pure) over `message`: 64 bytes. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** An Ed25519 key held by WebCrypto. */
export class Ed25519Signer implements Signer {
  private constructor(private readonly privateKey: CryptoKey, private readonly rawPublic: Uint8Array) {}

  /** A new random key; `extractable` false keeps it inside this runtime. */
  static async generate(extractable = false): Promise<Ed25519Signer> {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    if (extractable) return new Ed25519Signer(pair.privateKey, raw);
    const pkcs8 = await crypto.subtle.exportKey('pkcs8', pair.privateKey);
    const sealed = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
    return new Ed25519Signer(sealed, raw);
  }

  /** From the 32-byte seed (RFC 8032 private key), as bytes or 64 hex. */
  static async fromSeed(seed: Uint8Array | string): Promise<Ed25519Signer> {
    const bytes = typeof seed === 'string' ? hexToBytes(seed) : seed;
    if (bytes.length !== 32) throw new VerificationError('an Ed25519 seed is 32 bytes');
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

  async publicKey(): Promise<Uint8Array> {
    return this.rawPublic;
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.sign('Ed25519', this.privateKey, message as BufferSource));
  }
}

function base64UrlDecode(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** Verifies an Ed25519 signature by a raw 32-byte public key. */
export async function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  return crypto.subtle.verify('Ed25519', await importPublicKey(publicKey), signature as BufferSource, message as BufferSource);
}

/** What a signed debit carries (SPEC §8): the account's next nonce and the signature. */
export interface SignedFields {
  nonce: number;
  signature: string;
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
export function transactionSigningBytes(_latticeId: string, _transfer: unknown, _id: string, _nonce: number): Uint8Array {
  throw new VerificationError('signing owned-account transactions is not available yet: the signed bytes (SPEC §8) are not documented in docs/API.md');
}

/** Signs a transaction for an owned account with `signer` (see transactionSigningBytes). */
export async function signTransaction(signer: Signer, latticeId: string, transfer: unknown, id: string, nonce: number): Promise<SignedFields> {
  const signature = await signer.sign(transactionSigningBytes(latticeId, transfer, id, nonce));
  return { nonce, signature: bytesToHex(signature) };
}
