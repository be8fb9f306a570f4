import type { components } from './openapi.js';
type Schemas = components['schemas'];
interface EventOf<T extends string, D> {
    type: T;
    /** The SSE id (per node, increasing). */
    id: string;
    /** The base URL of the node that sent it. */
    node: string;
    data: D;
}
export type LatticeEvent = EventOf<'hello', Schemas['HelloEvent']> | EventOf<'commit', Schemas['CommitEvent']> | EventOf<'role', Schemas['RoleEvent']> | EventOf<'mode', Schemas['ModeEvent']> | EventOf<'link', Schemas['LinkEvent']> | EventOf<'lost', Schemas['LostEvent']>;
export interface EventHandlers {
    onEvent(event: LatticeEvent): void;
    /** A stream is open on `node` (its hello follows). */
    onConnect?(node: string): void;
    /** The stream from `node` ended; the subscription moves on to the next node. */
    onDisconnect?(node: string, reason: string): void;
}
export interface SubscribeOptions {
    /** First wait before trying the next node after a failure (doubles while every node fails). */
    reconnectDelayMs?: number;
    maxReconnectDelayMs?: number;
    /** A stream silent this long is taken for dead (nodes send a comment every 15 s). */
    idleTimeoutMs?: number;
    /** The index in `nodes` to start with. */
    startAt?: number;
}
interface SseMessage {
    event: string;
    data: string;
    id: string;
}
/** An incremental parser of the text/event-stream format (comments and retry ignored). */
export declare class SseParser {
    private buffer;
    private event;
    private data;
    private id;
    push(text: string): SseMessage[];
}
/** A running subscription; close() ends it. */
export declare class EventSubscription {
    private readonly nodes;
    private readonly handlers;
    private readonly options;
    private readonly fetcher;
    private readonly stop;
    private current;
    /** Settles once the subscription has ended after close(). */
    readonly done: Promise<void>;
    constructor(nodes: string[], handlers: EventHandlers, options: SubscribeOptions, fetcher: typeof fetch);
    /** The node the stream is open on, or null between nodes. */
    get node(): string | null;
    close(): void;
    private run;
    /** Reads one stream until it ends; true when it delivered a hello. */
    private read;
}
export {};
