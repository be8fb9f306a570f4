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
    publicKey(): Promise<Uint8Array>;
    sign(message: Uint8Array): Promise<Uint8Array>;
}
/** Verifies an Ed25519 signature by a raw 32-byte public key. */
export declare function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
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
export declare function transactionSigningBytes(_latticeId: string, _transfer: unknown, _id: string, _nonce: number): Uint8Array;
/** Signs a transaction for an owned account with `signer` (see transactionSigningBytes). */
export declare function signTransaction(signer: Signer, latticeId: string, transfer: unknown, id: string, nonce: number): Promise<SignedFields>;
