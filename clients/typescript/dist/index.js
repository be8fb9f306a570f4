// @aethel/client: a TypeScript client for Aethel Lattice nodes (README.md; docs/API.md, "Clients").
export { AethelClient } from './client.js';
export { AethelError, ApiError, NetworkError, OutcomeUnknownError, TransactionFailedError, VerificationError } from './errors.js';
export { EventSubscription, SseParser } from './events.js';
export { bytesToHex, hexToBytes, verifyProof } from './merkle.js';
export { Ed25519Signer, publicKeyOfPeerId, signTransaction, transactionSigningBytes, verifyEd25519, verifyStateSignature } from './signing.js';
