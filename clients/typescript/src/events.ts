// Live events from GET /api/lattice/events (server-sent events), read with fetch
// streaming so that one subscription can move between nodes: when the node it reads
// from dies, it reconnects to the next node URL at once, and every (re)connection
// starts with a `hello` event that says where that node stands.
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

export type LatticeEvent =
  | EventOf<'hello', Schemas['HelloEvent']>
  | EventOf<'commit', Schemas['CommitEvent']>
  | EventOf<'role', Schemas['RoleEvent']>
  | EventOf<'mode', Schemas['ModeEvent']>
  | EventOf<'link', Schemas['LinkEvent']>
  | EventOf<'lost', Schemas['LostEvent']>;

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
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id = '';

  push(text: string): SseMessage[] {
    this.buffer += text;
    const out: SseMessage[] = [];
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      if (end < 0) break;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + (this.buffer.startsWith('\r\n', end) ? 2 : 1));
      if (line === '') {
        if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
      else if (field === 'id') this.id = value;
    }
    return out;
  }
}

const KNOWN = new Set(['hello', 'commit', 'role', 'mode', 'link', 'lost']);
const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

/** A running subscription; close() ends it. */
export class EventSubscription {
  private readonly stop = new AbortController();
  private current: string | null = null;
  /** Settles once the subscription has ended after close(). */
  readonly done: Promise<void>;

  constructor(private readonly nodes: string[], private readonly handlers: EventHandlers,
    private readonly options: SubscribeOptions, private readonly fetcher: typeof fetch) {
    this.done = this.run();
  }

  /** The node the stream is open on, or null between nodes. */
  get node(): string | null {
    return this.current;
  }

  close(): void {
    this.stop.abort();
  }

  private async run(): Promise<void> {
    const base = this.options.reconnectDelayMs ?? 250;
    const max = this.options.maxReconnectDelayMs ?? 5000;
    let index = this.options.startAt ?? 0;
    let delay = base;
    let failuresInARow = 0;
    while (!this.stop.signal.aborted) {
      const node = this.nodes[index % this.nodes.length]!;
      const opened = await this.read(node);
      if (this.stop.signal.aborted) break;
      failuresInARow = opened ? 0 : failuresInARow + 1;
      if (opened) delay = base;
      index += 1;  // the next node first: this one just failed us
      if (failuresInARow >= this.nodes.length) {  // every node failed: back off
        await sleep(delay, this.stop.signal);
        delay = Math.min(max, delay * 2);
        failuresInARow = 0;
      } else if (!opened) {
        await sleep(Math.min(base, 50), this.stop.signal);
      }
    }
    this.current = null;
  }

  /** Reads one stream until it ends; true when it delivered a hello. */
  private async read(node: string): Promise<boolean> {
    const attempt = new AbortController();
    const abort = () => attempt.abort();
    this.stop.signal.addEventListener('abort', abort, { once: true });
    const idleMs = this.options.idleTimeoutMs ?? 35000;
    let idle = setTimeout(abort, idleMs);
    let greeted = false;
    let reason = 'the stream ended';
    try {
      const response = await this.fetcher(`${node}/api/lattice/events`, {
        headers: { Accept: 'text/event-stream' }, cache: 'no-store', signal: attempt.signal,
      });
      if (response.status !== 200 || !response.body) throw new Error(`answered ${response.status}`);
      this.current = node;
      this.handlers.onConnect?.(node);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(idle);
        idle = setTimeout(abort, idleMs);
        for (const message of parser.push(value)) {
          if (!KNOWN.has(message.event)) continue;
          if (message.event === 'hello') greeted = true;
          const event = { type: message.event, id: message.id, node, data: JSON.parse(message.data) } as LatticeEvent;
          this.handlers.onEvent(event);
        }
      }
    } catch (error) {
      reason = attempt.signal.aborted && !this.stop.signal.aborted ? 'no byte for the idle timeout' : String((error as Error).message ?? error);
    } finally {
      clearTimeout(idle);
      this.stop.signal.removeEventListener('abort', abort);
      if (this.current === node) {
        this.current = null;
        if (!this.stop.signal.aborted) this.handlers.onDisconnect?.(node, reason);
      }
    }
    return greeted;
  }
}
