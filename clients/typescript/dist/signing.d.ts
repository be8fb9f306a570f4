import type { components } from './openapi.js';
export type State = components['schemas']['State'];
/**
 * The raw Ed25519 public key inside a libp2p peer ID (`12D3KooW...`: an identity
 * multihash of the protobuf PublicKey {Type: Ed25519, Data: 32 bytes}).
 */
export declare function publicKeyOfPeerId(peerId: string): Uint8Array;
/**
 * Checks a `/api/lattice/state` answer: Ed25519 by the node key over the ASCII bytes
 * `<merkle_root>:<height>:<timestamp>` (docs/API.md). The key is taken from the
 * answer's peer_id (and must equal its public_key); pass `peerId` to require a node
 * you trust. Throws VerificationError when anything does not hold.
 */
export declare function verifyStateSignature(state: State, peerId?: string): Promise<void>;
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
export declare class Ed25519Signer implements Signer {
    private readonly privateKey;
    private readonly rawPublic;
    private constructor();
    /** A new random key; `extractable` false keeps it inside this runtime. */
    static generate(extractable?: boolean): Promise<Ed25519Signer>;
    /** From the 32-byte seed (RFC 8032 private key), as bytes or 64 hex. */
    static fromSeed(seed: Uint8Array | string): Promise<Ed25519Signer>;
    /**
     * From the key file `aethel account new` writes: a JWK {"kty": "OKP", "crv":
     * "Ed25519", "x", "d"} (base64url), as an object or its JSON text. The private key
     * is imported non-extractable; throws AethelError `bad_key` unless `x` is its public key.
     */
    static fromJwk(jwk: JsonWebKey | string): Promise<Ed25519Signer>;
    publicKey(): Promise<Uint8Array>;
    sign(message: Uint8Array): Promise<Uint8Array>;
}
/** Verifies an Ed25519 signature by a raw 32-byte public key. */
export declare function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
/** A transfer as POST /api/lattice/transactions takes it; `id` and `nonce` are signed, so sign what you send. */
export interface SigningTransfer {
    kind?: 'transfer';
    id?: string;
    from: string;
    to: string;
    amount: number | bigint;
    memo?: string;
    nonce?: number | bigint;
}
/**
 * A call of a deployed intent (sent as Aethel source through /api/verify, not as an
 * API item). `arguments` are signed in order: give pairs when the order could differ
 * from an object's (integer-like names come first in an object).
 */
export interface SigningInvocation {
    kind: 'invocation';
    id?: string;
    intent: string;
    memo?: string;
    arguments?: [string, string][] | Record<string, string>;
    nonce?: number | bigint;
}
/** open_account (signed by the new owner key) or set_owner (by the current owner, with the next nonce). */
export interface SigningAccountChange {
    kind: 'open_account' | 'set_owner';
    id?: string;
    account: string;
    /** The new owner's public key, 64 hex digits. */
    owner: string;
    nonce?: number | bigint;
}
export type SigningItem = SigningTransfer | SigningInvocation | SigningAccountChange;
export interface SigningOptions {
    /** The item is one of an atomic batch's (kind 1): each is signed on its own, with the batch's `clientId`. */
    batch?: boolean;
    /** The transaction's client id, if not the item's `id` ('' when neither). */
    clientId?: string;
}
/** What a signed item carries on top of its fields: 128 hex digits. */
export interface SignedFields {
    signature: string;
}
/**
 * The bytes an owner signs for one item (docs/LEDGER.md, "Signing bytes"):
 * "aethel/sig/v1" | lattice id | kind | client id | nonce | the item | has_owner | owner.
 * `latticeId` is GET /api/lattice/members' `lattice_id` (64 hex) or its 32 bytes: it
 * binds the signature to one lattice. A missing nonce is signed as 0.
 */
export declare function transactionSigningBytes(latticeId: string | Uint8Array, item: SigningItem, options?: SigningOptions): Uint8Array;
/**
 * Signs `item` with `signer`: resolves with the item and its `signature`, ready to
 * send (for an item of POST /api/lattice/transactions, as it is).
 */
export declare function signTransaction<T extends SigningItem>(signer: Signer, latticeId: string | Uint8Array, item: T, options?: SigningOptions): Promise<T & SignedFields>;
