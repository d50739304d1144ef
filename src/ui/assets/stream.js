// Server-Sent Events read through fetch(), because EventSource cannot send an Authorization
// header. Reconnects with backoff and resumes with Last-Event-ID, so no event is missed.

/** Parses `text/event-stream` chunks into events (WHATWG rules: fields, comments, blank line). */
export class SseParser {
  constructor(onEvent, onRetry) {
    this.onEvent = onEvent;
    this.onRetry = onRetry || (() => {});
    this.buffer = '';
    this.lastEventId = null;
    this.reset();
  }

  reset() {
    this.type = '';
    this.data = [];
    this.id = undefined;
  }

  /** Feeds decoded text; complete lines are processed, the rest is kept for the next chunk. */
  push(text) {
    this.buffer += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.onRetry(Number(value));
  }

  dispatch() {
    if (this.id !== undefined) this.lastEventId = this.id;
    if (this.data.length || this.type) {
      this.onEvent({
        id: this.id ?? null,
        type: this.type || 'message',
        data: this.data.join('\n'),
      });
    }
    this.reset();
  }
}

const MIN_DELAY = 500;
const MAX_DELAY = 15000;
/** No byte for this long (keep-alives come every 15 s): the connection is dead, reconnect. */
const STALL_MS = 45000;

/**
 * Opens a stream and keeps it open. Options: `url`, `headers()` (called on every connect),
 * `onEvent({id, type, data})`, `onState('connecting'|'open'|'retrying'|'closed', info)`,
 * `onFatal(status)` for 401/403/404 (no retry), `lastEventId` to resume from.
 * Answers `{close(), reconnectNow(), get lastEventId()}`.
 */
export function openStream(opts) {
  let lastEventId = opts.lastEventId ?? null;
  let attempt = 0;
  let serverDelay = 0;
  let controller = null;
  let timer = null;
  let closed = false;

  const state = (s, info) => opts.onState && opts.onState(s, info);

  async function connect() {
    timer = null;
    if (closed) return;
    controller = new AbortController();
    const own = controller;
    state(attempt ? 'retrying' : 'connecting');
    const headers = { Accept: 'text/event-stream', ...(opts.headers ? opts.headers() : {}) };
    if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId;
    let stall = null;
    const armStall = () => {
      clearTimeout(stall);
      stall = setTimeout(() => own.abort(), STALL_MS);
    };
    try {
      const res = await fetch(opts.url, { headers, signal: own.signal, cache: 'no-store' });
      if ([401, 403, 404].includes(res.status)) {
        closed = true;
        state('closed', { status: res.status });
        if (opts.onFatal) opts.onFatal(res.status);
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const parser = new SseParser(
        (event) => {
          attempt = 0;
          if (event.id !== null) lastEventId = event.id;
          try {
            opts.onEvent(event);
          } catch (err) {
            console.error('event handler failed', err);
          }
        },
        (ms) => { serverDelay = ms; },
      );
      state('open');
      const opened = Date.now();
      armStall();
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armStall();
        parser.push(decoder.decode(value, { stream: true }));
        // An id-only frame (the server names where a fresh stream starts) is no event, but
        // it is where a reconnect resumes from.
        if (parser.lastEventId !== null) lastEventId = parser.lastEventId;
      }
      // A stream that stayed up a while was healthy: start the backoff again from the bottom.
      if (Date.now() - opened > 10000) attempt = 0;
    } catch (err) {
      if (closed) return;
      if (err && err.name !== 'AbortError') console.warn('event stream:', err.message || err);
    } finally {
      clearTimeout(stall);
    }
    if (closed) return;
    schedule();
  }

  function schedule() {
    const base = Math.min(MAX_DELAY, Math.max(serverDelay, MIN_DELAY * 2 ** attempt));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    attempt += 1;
    state('retrying', { delay });
    timer = setTimeout(connect, delay);
  }

  // Offline: the open connection is as good as dead, so drop it and wait for the network.
  const offline = () => {
    if (controller) controller.abort();
  };
  const online = () => {
    if (!closed && timer) {
      clearTimeout(timer);
      connect();
    }
  };
  window.addEventListener('offline', offline);
  window.addEventListener('online', online);

  connect();

  return {
    get lastEventId() {
      return lastEventId;
    },
    /** Skips the wait of a pending retry. */
    reconnectNow: online,
    close() {
      closed = true;
      window.removeEventListener('offline', offline);
      window.removeEventListener('online', online);
      clearTimeout(timer);
      if (controller) controller.abort();
      state('closed', {});
    },
  };
}
