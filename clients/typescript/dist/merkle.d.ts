import type { components } from './openapi.js';
export type ProofDocument = components['schemas']['ProofDocument'];
export declare function hexToBytes(hex: string): Uint8Array;
export declare function bytesToHex(bytes: Uint8Array): string;
/** The result of a check: `ok`, and why not. */
export interface ProofCheck {
    ok: boolean;
    reason: string;
    /** What the proof shows: the account with its balance and nonce, or its absence. */
    exists: boolean;
}
/**
 * Checks `document` (as the API serves it) against `root` (64 hex; by default the
 * document's own merkle_root). Never throws for a bad proof: `ok` is false with the reason.
 */
export declare function verifyProof(document: ProofDocument, root?: string): Promise<ProofCheck>;
