// Typed errors of the client. Every error the client throws is an AethelError; `code`
// is the node's error code (docs/API.md) or one of the client's own below.
export class AethelError extends Error {
    /** The node's error code (`unknown_account`, `overloaded`, ...) or the client's. */
    code;
    constructor(code, message) {
        super(message);
        this.name = 'AethelError';
        this.code = code;
    }
}
/** A node answered with an error status; `body` is its JSON answer. */
export class ApiError extends AethelError {
    status;
    node;
    body;
    constructor(status, code, message, node, body) {
        super(code, `${node}: ${status} ${code}: ${message}`);
        this.name = 'ApiError';
        this.status = status;
        this.node = node;
        this.body = body;
    }
}
/**
 * A write whose outcome is unknown after every retry (503 `"outcome": "unknown"` or a
 * connection lost after sending). It may still commit. Retrying later with the same
 * `ids` is safe: an id is applied at most once.
 */
export class OutcomeUnknownError extends AethelError {
    ids;
    attempts;
    constructor(ids, attempts, last) {
        super('outcome_unknown', `the outcome of ${ids.length} transaction(s) is unknown after ${attempts} attempt(s): ${last.message}`);
        this.name = 'OutcomeUnknownError';
        this.ids = ids;
        this.attempts = attempts;
    }
}
/** No node could be reached (every URL failed with a network error or timed out). */
export class NetworkError extends AethelError {
    failures;
    constructor(failures) {
        super('unreachable', `no node answered: ${failures.map((f) => `${f.node} (${f.error})`).join('; ')}`);
        this.name = 'NetworkError';
        this.failures = failures;
    }
}
/** The ledger refused a transfer (insufficient funds, unknown account, ...). */
export class TransactionFailedError extends AethelError {
    outcome;
    constructor(code, message, outcome) {
        super(code, `transaction failed: ${code}${message ? `: ${message}` : ''}`);
        this.name = 'TransactionFailedError';
        this.outcome = outcome;
    }
}
/** A Merkle proof or a node's signature does not hold. */
export class VerificationError extends AethelError {
    constructor(message) {
        super('verification_failed', message);
        this.name = 'VerificationError';
    }
}
