/** An incremental parser of the text/event-stream format (comments and retry ignored). */
export class SseParser {
    buffer = '';
    event = '';
    data = [];
    id = '';
    push(text) {
        this.buffer += text;
        const out = [];
        for (;;) {
            const end = this.buffer.search(/\r\n|\r|\n/);
            if (end < 0)
                break;
            const line = this.buffer.slice(0, end);
            this.buffer = this.buffer.slice(end + (this.buffer.startsWith('\r\n', end) ? 2 : 1));
            if (line === '') {
                if (this.data.length > 0)
                    out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
                this.event = '';
                this.data = [];
                continue;
            }
            if (line.startsWith(':'))
                continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? '' : line.slice(colon + 1);
            if (value.startsWith(' '))
                value = value.slice(1);
            if (field === 'event')
                this.event = value;
            else if (field === 'data')
                this.data.push(value);
            else if (field === 'id')
                this.id = value;
        }
        return out;
    }
}
const KNOWN = new Set(['hello', 'commit', 'role', 'mode', 'link', 'lost']);
const sleep = (ms, signal) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});
/** A running subscription; close() ends it. */
export class EventSubscription {
    nodes;
    handlers;
    options;
    fetcher;
    stop = new AbortController();
    current = null;
    /** Settles once the subscription has ended after close(). */
    done;
    constructor(nodes, handlers, options, fetcher) {
        this.nodes = nodes;
        this.handlers = handlers;
        this.options = options;
        this.fetcher = fetcher;
        this.done = this.run();
    }
    /** The node the stream is open on, or null between nodes. */
    get node() {
        return this.current;
    }
    close() {
        this.stop.abort();
    }
    async run() {
        const base = this.options.reconnectDelayMs ?? 250;
        const max = this.options.maxReconnectDelayMs ?? 5000;
        let index = this.options.startAt ?? 0;
        let delay = base;
        let failuresInARow = 0;
        while (!this.stop.signal.aborted) {
            const node = this.nodes[index % this.nodes.length];
            const opened = await this.read(node);
            if (this.stop.signal.aborted)
                break;
            failuresInARow = opened ? 0 : failuresInARow + 1;
            if (opened)
                delay = base;
            index += 1; // the next node first: this one just failed us
            if (failuresInARow >= this.nodes.length) { // every node failed: back off
                await sleep(delay, this.stop.signal);
                delay = Math.min(max, delay * 2);
                failuresInARow = 0;
            }
            else if (!opened) {
                await sleep(Math.min(base, 50), this.stop.signal);
            }
        }
        this.current = null;
    }
    /** Reads one stream until it ends; true when it delivered a hello. */
    async read(node) {
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
            if (response.status !== 200 || !response.body)
                throw new Error(`answered ${response.status}`);
            this.current = node;
            this.handlers.onConnect?.(node);
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            const parser = new SseParser();
            for (;;) {
                const { value, done } = await reader.read();
                if (done)
                    break;
                clearTimeout(idle);
                idle = setTimeout(abort, idleMs);
                for (const message of parser.push(value)) {
                    if (!KNOWN.has(message.event))
                        continue;
                    if (message.event === 'hello')
                        greeted = true;
                    const event = { type: message.event, id: message.id, node, data: JSON.parse(message.data) };
                    this.handlers.onEvent(event);
                }
            }
        }
        catch (error) {
            reason = attempt.signal.aborted && !this.stop.signal.aborted ? 'no byte for the idle timeout' : String(error.message ?? error);
        }
        finally {
            clearTimeout(idle);
            this.stop.signal.removeEventListener('abort', abort);
            if (this.current === node) {
                this.current = null;
                if (!this.stop.signal.aborted)
                    this.handlers.onDisconnect?.(node, reason);
            }
        }
        return greeted;
    }
}
