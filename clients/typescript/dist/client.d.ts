import { EventSubscription, type EventHandlers, type SubscribeOptions } from './events.js';
import { type ProofCheck } from './merkle.js';
import type { components } from './openapi.js';
import { type Signer } from './signing.js';
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
export declare class AethelClient {
    readonly nodes: string[];
    private preferred;
    private readonly timeoutMs;
    private readonly retries;
    private readonly retryDelayMs;
    private readonly adminToken;
    private readonly fetcher;
    private readonly consistency;
    private latticeId;
    constructor(options: ClientOptions);
    /** The node requests go to first (the last one that answered). */
    get node(): string;
    root(): Promise<Schemas['Root']>;
    health(): Promise<Schemas['Liveness']>;
    account(name: string, read?: ReadOptions): Promise<Schemas['Account']>;
    proof(name: string, read?: ReadOptions): Promise<Schemas['ProofDocument']>;
    transaction(id: string, read?: ReadOptions): Promise<Schemas['TxOutcome']>;
    p2pStatus(): Promise<Schemas['P2pStatus']>;
    identity(): Promise<Schemas['Identity']>;
    latticeNodes(): Promise<Schemas['Nodes']>;
    network(): Promise<Schemas['Network']>;
    /** The membership as the answering node sees it, and the `lattice_id` signatures name. */
    members(): Promise<Schemas['Members']>;
    openapi(): Promise<Record<string, unknown>>;
    /** The lattice health; an unhealthy node answers 503 with the same shape (no failover). */
    latticeHealth(): Promise<Schemas['LatticeHealth']>;
    /** Root, height and a page of accounts; `verify` checks the node's signature (signing.ts). */
    state(options?: {
        limit?: number;
        after?: string;
        verify?: boolean;
    } & ReadOptions): Promise<Schemas['State']>;
    blocks(options?: {
        from?: number;
        limit?: number;
    }): Promise<Schemas['Blocks']>;
    /** Fetches `name`'s proof and checks it against the root it names (or `root`). */
    verifiedProof(name: string, root?: string): Promise<{
        document: Schemas['ProofDocument'];
        check: ProofCheck;
    }>;
    /** GET /metrics: the Prometheus text. */
    metrics(): Promise<string>;
    /**
     * Submits transfers (and open_account / set_owner items, signed: signTransaction)
     * as one block (at most 8192). Items without an id get a random one; a write whose
     * outcome is unknown is retried with the same ids. Resolves with one result per item
     * (a failed item is a result with status "failed", not an error).
     */
    submit(items: (TransferItem | AccountChangeItem)[]): Promise<Schemas['TransactionsResult']>;
    /** One transfer; throws TransactionFailedError when the ledger refuses it. */
    transfer(item: TransferItem): Promise<TransferResult>;
    /**
     * One transfer from an owned account, signed by `signer` (its owner key; see
     * Ed25519Signer.fromJwk). The lattice id (read once: a lattice keeps it for life) and,
     * unless `item.nonce` is given, the account's next nonce are read from the lattice;
     * the id is chosen before signing because it is signed, and it keeps a retry safe.
     * Transfers from one account go one at a time: two signed with the same nonce, one
     * fails `bad_nonce`. Throws TransactionFailedError like transfer().
     */
    signedTransfer(item: TransferItem, signer: Signer): Promise<TransferResult>;
    /**
     * Verifies Aethel source and commits its PROVED transfers. Retries on an unknown
     * outcome only when `safeToRetry` (every invocation names an `id`).
     */
    verify(code: string, options?: {
        dryRun?: boolean;
        safeToRetry?: boolean;
    }): Promise<Schemas['VerifyResult']>;
    switchSyncMode(mode: 'p2p' | 'http' | 'auto', node?: string): Promise<Schemas['SyncSwitch']>;
    stopP2p(node?: string): Promise<Schemas['P2pSwitch']>;
    startP2p(node?: string): Promise<Schemas['P2pSwitch']>;
    /** Live events, moving to the next node when the one it reads from dies (events.ts). */
    subscribe(handlers: EventHandlers, options?: SubscribeOptions): EventSubscription;
    private readPath;
    private get;
    private admin;
    private writeOnce;
    private write;
    private request;
    private attempt;
    private judge;
}
