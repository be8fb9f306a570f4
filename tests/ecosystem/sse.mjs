// A server-sent events reader for the tests: GET <node>/api/lattice/events with fetch,
// parsed into {event, id, data, at} as the bytes arrive (`at`: Date.now() on arrival).
export class SseReader {
  constructor(node) {
    this.node = node;
    this.events = [];
    this.status = null;
    this.headers = null;
    this.ended = null;  // 'closed' by the server, or the error that ended the read
    this.controller = new AbortController();
    this.done = this.read();
  }

  async read() {
    try {
      const response = await fetch(`${this.node}/api/lattice/events`, { signal: this.controller.signal });
      this.status = response.status;
      this.headers = response.headers;
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of response.body) {
        text += decoder.decode(chunk, { stream: true });
        const blocks = text.split('\n\n');
        text = blocks.pop();
        const at = Date.now();
        for (const block of blocks) this.parse(block, at);
      }
      this.ended = 'closed';
    } catch (error) {
      this.ended = String(error.message || error);
    }
  }

  parse(block, at) {
    const fields = {};
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;  // comments (": keepalive") and blank lines
      fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
    }
    if (fields.event) this.events.push({ event: fields.event, id: Number(fields.id), data: JSON.parse(fields.data), at });
  }

  of(type) { return this.events.filter((e) => e.event === type); }

  async close() {
    this.controller.abort();
    await this.done;
  }
}
