export declare class AethelError extends Error {
    /** The node's error code (`unknown_account`, `overloaded`, ...) or the client's. */
    readonly code: string;
    constructor(code: string, message: string);
}
/** A node answered with an error status; `body` is its JSON answer. */
export declare class ApiError extends AethelError {
    readonly status: number;
    readonly node: string;
    readonly body: unknown;
    constructor(status: number, code: string, message: string, node: string, body: unknown);
}
/**
 * A write whose outcome is unknown after every retry (503 `"outcome": "unknown"` or a
 * connection lost after sending). It may still commit. Retrying later with the same
 * `ids` is safe: an id is applied at most once.
 */
export declare class OutcomeUnknownError extends AethelError {
    readonly ids: string[];
    readonly attempts: number;
    constructor(ids: string[], attempts: number, last: Error);
}
/** No node could be reached (every URL failed with a network error or timed out). */
export declare class NetworkError extends AethelError {
    readonly failures: {
        node: string;
        error: string;
    }[];
    constructor(failures: {
        node: string;
        error: string;
    }[]);
}
/** The ledger refused a transfer (insufficient funds, unknown account, ...). */
export declare class TransactionFailedError extends AethelError {
    readonly outcome: unknown;
    constructor(code: string, message: string, outcome: unknown);
}
/** A Merkle proof or a node's signature does not hold. */
export declare class VerificationError extends AethelError {
    constructor(message: string);
}
