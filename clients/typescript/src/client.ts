// AethelClient: one object for a lattice given as a list of node URLs.
//
// - Failover: a request goes to the node that answered last; when it cannot be
//   reached (network error, timeout) or is not ready (503 not_ready), the next URL is
//   tried, and so on around the list.
// - Leader-agnostic writes: any node accepts a write (a follower forwards it).
// - Safe retries: every transaction gets a client id before it is sent (one of
//   yours, or a random UUID); a write whose outcome is unknown (503 "outcome":
//   "unknown", or the connection lost after sending) is sent again with the same ids,
//   so it applies at most once. A retry of a committed id answers "exists": true.
// - Reads of ledger state are linearizable by default (the node's default); `stale`
//   (per client or per read) answers from one node's own state at once. A node that
//   cannot confirm a read (503 unavailable / not_caught_up) is failed over like one
//   that is down.
// - Typed errors (errors.ts); responses typed from src/api/openapi.json (openapi.ts).
import { ApiError, NetworkError, OutcomeUnknownError, TransactionFailedError } from './errors.js';
import { EventSubscription, type EventHandlers, type SubscribeOptions } from './events.js';
import { verifyProof, type ProofCheck } from './merkle.js';
import type { components } from './openapi.js';
import { signTransaction, verifyStateSignature, type Signer } from './signing.js';

export type Schemas = components['schemas'];
export type TransferItem = Schemas['TransferItem'];
export type AccountChangeItem = Schemas['AccountChangeItem'];
export type Outcome = Schemas['Outcome'];

export interface ClientOptions {
  /** Base URLs of the nodes (`http://node1:8000`), or one comma-separated string. */
  nodes: string[] | string;
  /**
   * Per request, in ms (default 15000: longer than the 10 s a node may wait for a
   * `minHeight` before its own 503 `not_caught_up`, so that answer arrives first).
   */
  timeoutMs?: number;
  /** Writes whose outcome is unknown are retried this many times (default 3). */
  retries?: number;
  /** Wait between retries of a write, ms (default 250). */
  retryDelayMs?: number;
  /** Authorization for the admin routes (AETHEL_ADMIN_TOKEN). */
  adminToken?: string;
  /** Another fetch (tests, proxies). */
  fetch?: typeof fetch;
  /**
   * Reads of ledger state (state, account, proof, transaction): 'linearizable' (the
   * default: every write acknowledged before the read is seen) or 'stale' (the node
   * answers from its own state at once; it may lag). Each read may override it.
   */
  consistency?: Consistency;
}

export type Consistency = 'linearizable' | 'stale';

/** Per read of ledger state: `stale` answers from the node's own state at once; `minHeight` waits (up to 10 s on the node) until it has applied that height. */
export interface ReadOptions {
  stale?: boolean;
  minHeight?: number;
}

export interface TransferResult extends Outcome {
  merkle_root: string;
}

interface Answer<T> {
  status: number;
  body: T;
  node: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

// An attempt on one node that another node may answer better.
class TryNext extends Error {
  constructor(readonly node: string, readonly reason: string, readonly apiError?: ApiError) {
    super(reason);
  }
}

// A write that may or may not have been applied: retried with the same ids.
class Unknown extends Error {}

export class AethelClient {
  readonly nodes: string[];
  private preferred = 0;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly adminToken: string | undefined;
  private readonly fetcher: typeof fetch;
  private readonly consistency: Consistency;
  private latticeId: string | undefined;

  constructor(options: ClientOptions) {
    const list = typeof options.nodes === 'string' ? options.nodes.split(',') : options.nodes;
    this.nodes = list.map((u) => u.trim().replace(/\/+$/, '')).filter(Boolean);
    if (this.nodes.length === 0) throw new TypeError('AethelClient needs at least one node URL');
    this.timeoutMs = options.timeoutMs ?? 15000;
    this.retries = options.retries ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.adminToken = options.adminToken;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.consistency = options.consistency ?? 'linearizable';
  }

  /** The node requests go to first (the last one that answered). */
  get node(): string {
    return this.nodes[this.preferred]!;
  }

  // ---- reads ----------------------------------------------------------------

  root(): Promise<Schemas['Root']> { return this.get('/'); }
  health(): Promise<Schemas['Liveness']> { return this.get('/health'); }
  account(name: string, read: ReadOptions = {}): Promise<Schemas['Account']> {
    return this.get(this.readPath(`/api/lattice/accounts/${encodeURIComponent(name)}`, new URLSearchParams(), read));
  }
  proof(name: string, read: ReadOptions = {}): Promise<Schemas['ProofDocument']> {
    return this.get(this.readPath(`/api/lattice/proof/${encodeURIComponent(name)}`, new URLSearchParams(), read));
  }
  transaction(id: string, read: ReadOptions = {}): Promise<Schemas['TxOutcome']> {
    return this.get(this.readPath(`/api/lattice/tx/${encodeURIComponent(id)}`, new URLSearchParams(), read));
  }
  p2pStatus(): Promise<Schemas['P2pStatus']> { return this.get('/api/lattice/p2p/status'); }
  identity(): Promise<Schemas['Identity']> { return this.get('/api/lattice/p2p/identity'); }
  latticeNodes(): Promise<Schemas['Nodes']> { return this.get('/api/lattice/nodes'); }
  network(): Promise<Schemas['Network']> { return this.get('/api/lattice/network'); }
  /** The membership as the answering node sees it, and the `lattice_id` signatures name. */
  members(): Promise<Schemas['Members']> { return this.get('/api/lattice/members'); }
  openapi(): Promise<Record<string, unknown>> { return this.get('/api/openapi.json'); }

  /** The lattice health; an unhealthy node answers 503 with the same shape (no failover). */
  async latticeHealth(): Promise<Schemas['LatticeHealth']> {
    const answer = await this.request<Schemas['LatticeHealth']>('GET', '/api/lattice/health', undefined, { accept503: true });
    return answer.body;
  }

  /** Root, height and a page of accounts; `verify` checks the node's signature (signing.ts). */
  async state(options: { limit?: number; after?: string; verify?: boolean } & ReadOptions = {}): Promise<Schemas['State']> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.after !== undefined) query.set('after', options.after);
    const state = await this.get<Schemas['State']>(this.readPath('/api/lattice/state', query, options));
    if (options.verify) await verifyStateSignature(state);
    return state;
  }

  blocks(options: { from?: number; limit?: number } = {}): Promise<Schemas['Blocks']> {
    const query = new URLSearchParams();
    if (options.from !== undefined) query.set('from', String(options.from));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    return this.get(`/api/lattice/blocks${query.size ? `?${query}` : ''}`);
  }

  /** Fetches `name`'s proof and checks it against the root it names (or `root`). */
  async verifiedProof(name: string, root?: string): Promise<{ document: Schemas['ProofDocument']; check: ProofCheck }> {
    const document = await this.proof(name);
    return { document, check: await verifyProof(document, root ?? document.merkle_root) };
  }

  /** GET /metrics: the Prometheus text. */
  async metrics(): Promise<string> {
    return (await this.request<string>('GET', '/metrics', undefined, { text: true })).body;
  }

  // ---- writes ---------------------------------------------------------------

  /**
   * Submits transfers (and open_account / set_owner items, signed: signTransaction)
   * as one block (at most 8192). Items without an id get a random one; a write whose
   * outcome is unknown is retried with the same ids. Resolves with one result per item
   * (a failed item is a result with status "failed", not an error).
   */
  async submit(items: (TransferItem | AccountChangeItem)[]): Promise<Schemas['TransactionsResult']> {
    const transactions = items.map((item) => ({ ...item, id: item.id ?? crypto.randomUUID() }));
    return this.write('/api/lattice/transactions', { transactions }, transactions.map((t) => t.id));
  }

  /** One transfer; throws TransactionFailedError when the ledger refuses it. */
  async transfer(item: TransferItem): Promise<TransferResult> {
    const result = await this.submit([item]);
    const outcome = result.results[0]!;
    if (outcome.status !== 'committed') throw new TransactionFailedError(outcome.code, outcome.message, outcome);
    return { ...outcome, merkle_root: result.merkle_root };
  }

  /**
   * One transfer from an owned account, signed by `signer` (its owner key; see
   * Ed25519Signer.fromJwk). The lattice id (read once: a lattice keeps it for life) and,
   * unless `item.nonce` is given, the account's next nonce are read from the lattice;
   * the id is chosen before signing because it is signed, and it keeps a retry safe.
   * Transfers from one account go one at a time: two signed with the same nonce, one
   * fails `bad_nonce`. Throws TransactionFailedError like transfer().
   */
  async signedTransfer(item: TransferItem, signer: Signer): Promise<TransferResult> {
    // From the identity route: it answers pages of other origins (CORS), members does not.
    this.latticeId ??= (await this.identity()).lattice_id;
    const nonce = item.nonce ?? (await this.account(item.from)).nonce + 1;
    const id = item.id ?? crypto.randomUUID();
    return this.transfer(await signTransaction(signer, this.latticeId, { ...item, id, nonce }));
  }

  /**
   * Verifies Aethel source and commits its PROVED transfers. Retries on an unknown
   * outcome only when `safeToRetry` (every invocation names an `id`).
   */
  async verify(code: string, options: { dryRun?: boolean; safeToRetry?: boolean } = {}): Promise<Schemas['VerifyResult']> {
    const body = { code, dry_run: options.dryRun ?? false };
    if (options.safeToRetry || options.dryRun) return this.write('/api/verify', body, []);
    return this.writeOnce('/api/verify', body);
  }

  // ---- admin ----------------------------------------------------------------

  async switchSyncMode(mode: 'p2p' | 'http' | 'auto', node = this.node): Promise<Schemas['SyncSwitch']> {
    return this.admin(node, `/api/lattice/sync/switch?mode=${mode}`);
  }
  async stopP2p(node = this.node): Promise<Schemas['P2pSwitch']> { return this.admin(node, '/api/lattice/p2p/stop'); }
  async startP2p(node = this.node): Promise<Schemas['P2pSwitch']> { return this.admin(node, '/api/lattice/p2p/start'); }

  // ---- events ---------------------------------------------------------------

  /** Live events, moving to the next node when the one it reads from dies (events.ts). */
  subscribe(handlers: EventHandlers, options: SubscribeOptions = {}): EventSubscription {
    return new EventSubscription(this.nodes, handlers, { startAt: this.preferred, ...options }, this.fetcher);
  }

  // ---- plumbing -------------------------------------------------------------

  // A read route with its consistency query (linearizable is the node's default).
  private readPath(path: string, query: URLSearchParams, read: ReadOptions): string {
    const stale = read.stale ?? this.consistency === 'stale';
    if (stale) query.set('consistency', 'stale');
    if (read.minHeight !== undefined) query.set('min_height', String(read.minHeight));
    return `${path}${query.size ? `?${query}` : ''}`;
  }

  private async get<T>(path: string): Promise<T> {
    return (await this.request<T>('GET', path)).body;
  }

  private async admin<T>(node: string, path: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.adminToken) headers.Authorization = `Bearer ${this.adminToken}`;
    const answer = await this.attempt<T>(node, 'POST', path, undefined, { headers });
    if (answer instanceof TryNext) throw answer.apiError ?? new NetworkError([{ node, error: answer.reason }]);
    return answer.body;
  }

  private async writeOnce<T>(path: string, body: unknown): Promise<T> {
    try {
      return (await this.request<T>('POST', path, body, { write: true })).body;
    } catch (error) {
      if (error instanceof Unknown) throw new OutcomeUnknownError([], 1, error);
      throw error;
    }
  }

  // Sends a write until its outcome is known, at most retries + 1 times.
  private async write<T>(path: string, body: unknown, ids: string[]): Promise<T> {
    let last: Error = new Error('not sent');
    for (let attempt = 1; attempt <= this.retries + 1; attempt += 1) {
      try {
        return (await this.request<T>('POST', path, body, { write: true })).body;
      } catch (error) {
        if (!(error instanceof Unknown) && !(error instanceof NetworkError)) throw error;
        last = error as Error;
        if (attempt <= this.retries) await sleep(this.retryDelayMs);
      }
    }
    throw new OutcomeUnknownError(ids, this.retries + 1, last);
  }

  // Tries every node once, starting with the preferred one.
  private async request<T>(method: string, path: string, body?: unknown,
    options: { write?: boolean; text?: boolean; accept503?: boolean } = {}): Promise<Answer<T>> {
    const failures: { node: string; error: string }[] = [];
    let apiError: ApiError | undefined;
    for (let i = 0; i < this.nodes.length; i += 1) {
      const index = (this.preferred + i) % this.nodes.length;
      const node = this.nodes[index]!;
      const answer = await this.attempt<T>(node, method, path, body, options);
      if (!(answer instanceof TryNext)) {
        this.preferred = index;
        return answer;
      }
      failures.push({ node, error: answer.reason });
      apiError = answer.apiError ?? apiError;
    }
    if (options.write && failures.length > 0 && !apiError) throw new NetworkError(failures);
    throw apiError ?? new NetworkError(failures);
  }

  // One exchange with one node: the answer, TryNext (another node may do), or a throw.
  private async attempt<T>(node: string, method: string, path: string, body: unknown,
    options: { write?: boolean; text?: boolean; accept503?: boolean; headers?: Record<string, string> }): Promise<Answer<T> | TryNext> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.fetcher(`${node}${path}`, {
        method, signal: controller.signal,
        headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...options.headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      text = await response.text();
    } catch (error) {
      const reason = controller.signal.aborted ? `no answer within ${this.timeoutMs} ms` : String((error as Error).message ?? error);
      return new TryNext(node, reason);
    } finally {
      clearTimeout(timer);
    }
    return this.judge<T>(node, response, text, options);
  }

  private judge<T>(node: string, response: Response, text: string,
    options: { write?: boolean; text?: boolean; accept503?: boolean }): Answer<T> | TryNext {
    let parsed: unknown = text;
    if (!options.text) {
      try { parsed = JSON.parse(text); } catch { parsed = undefined; }
    }
    const ok = response.status >= 200 && response.status < 300;
    if (ok || (options.accept503 && response.status === 503 && isRecord(parsed) && 'components' in parsed)) {
      if (!options.text && parsed === undefined) return new TryNext(node, `${response.status} without JSON`);
      return { status: response.status, body: parsed as T, node };
    }
    const error = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : {};
    const code = typeof error.code === 'string' ? error.code : `http_${response.status}`;
    const message = typeof error.message === 'string' ? error.message : text.slice(0, 200);
    const apiError = new ApiError(response.status, code, message, node, parsed);
    if (options.write && response.status === 503 && isRecord(parsed) && parsed.outcome === 'unknown') {
      throw new Unknown(apiError.message);
    }
    // Not ready, shedding load or stopping: another node may answer.
    if (response.status === 503 || response.status === 429) return new TryNext(node, apiError.message, apiError);
    throw apiError;
  }
}
