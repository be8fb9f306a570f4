// Typed errors of the client. Every error the client throws is an AethelError; `code`
// is the node's error code (docs/API.md) or one of the client's own below.

export class AethelError extends Error {
  /** The node's error code (`unknown_account`, `overloaded`, ...) or the client's. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'AethelError';
    this.code = code;
  }
}

/** A node answered with an error status; `body` is its JSON answer. */
export class ApiError extends AethelError {
  readonly status: number;
  readonly node: string;
  readonly body: unknown;
  constructor(status: number, code: string, message: string, node: string, body: unknown) {
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
  readonly ids: string[];
  readonly attempts: number;
  constructor(ids: string[], attempts: number, last: Error) {
    super('outcome_unknown', `the outcome of ${ids.length} transaction(s) is unknown after ${attempts} attempt(s): ${last.message}`);
    this.name = 'OutcomeUnknownError';
    this.ids = ids;
    this.attempts = attempts;
  }
}

/** No node could be reached (every URL failed with a network error or timed out). */
export class NetworkError extends AethelError {
  readonly failures: { node: string; error: string }[];
  constructor(failures: { node: string; error: string }[]) {
    super('unreachable', `no node answered: ${failures.map((f) => `${f.node} (${f.error})`).join('; ')}`);
    this.name = 'NetworkError';
    this.failures = failures;
  }
}

/** The ledger refused a transfer (insufficient funds, unknown account, ...). */
export class TransactionFailedError extends AethelError {
  readonly outcome: unknown;
  constructor(code: string, message: string, outcome: unknown) {
    super(code, `transaction failed: ${code}${message ? `: ${message}` : ''}`);
    this.name = 'TransactionFailedError';
    this.outcome = outcome;
  }
}

/** A Merkle proof or a node's signature does not hold. */
export class VerificationError extends AethelError {
  constructor(message: string) {
    super('verification_failed', message);
    this.name = 'VerificationError';
  }
}
