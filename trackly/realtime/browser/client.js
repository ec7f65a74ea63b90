// Trackly live updates for browsers: a dependency-free ES module, served at /api/realtime/client.js.
//
//   import { connectLive } from 'http://127.0.0.1:7071/api/realtime/client.js';
//   const live = connectLive({ baseUrl: 'http://127.0.0.1:7071/api', getToken: () => localStorage.getItem('access_token') });
//   live.onmessage = (e) => { const data = JSON.parse(e.data); ... };   // what the original EventSource gave
//   live.addEventListener('issue_created', (e) => console.log(e.detail));
//   live.close();
//
// What it does (the README's "How a frontend connects"): GET /realtime/negotiate, open the WebSocket
// with subprotocol json.webpubsub.azure.v1, and after every (re)connect page through
// GET /events?after=<cursor> so that nothing committed while away is missed. Every event is applied
// once (dedupe by `id`). It negotiates again before the token expires and whenever the socket
// closes, with exponential back-off and jitter. Messages have the original SSE stream's shape:
// {type, issue_id, user_id, user_name, timestamp, data} plus `id`; a {type: 'connected'} message
// follows every (re)connect, as the SSE stream sent on connect. A `sync` event fires when the
// catch-up after a (re)connect has finished.

const SUBPROTOCOL = 'json.webpubsub.azure.v1';
const DEFAULTS = { minBackoffMs: 1000, maxBackoffMs: 30000, renewBeforeMs: 60000, pageSize: 500 };

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSED = 2;

export class LiveUpdates extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.baseUrl API base, e.g. 'https://example.azurewebsites.net/api'.
   * @param {() => string | Promise<string>} options.getToken The current access token.
   * @param {() => unknown} [options.onUnauthorized] Called on a 401 (refresh the token); the call is retried once.
   * @param {number} [options.after] Start after this event id (default: from now on).
   */
  constructor(options) {
    super();
    if (!options || !options.baseUrl || typeof options.getToken !== 'function') {
      throw new TypeError('connectLive needs { baseUrl, getToken }');
    }
    this.options = { ...DEFAULTS, ...options };
    this.baseUrl = String(options.baseUrl).replace(/\/+$/, '');
    this.readyState = CONNECTING;
    this.onmessage = null;
    this.onopen = null;
    this.onerror = null;
    this.onsync = null;
    this._cursor = Number.isInteger(options.after) ? options.after : null; // every id <= cursor was handled
    this._seen = new Set(); // ids above the cursor already delivered (live before the feed caught up)
    this._socket = null;
    this._attempt = 0;
    this._generation = 0;
    this._wake = null;
  }

  /** The highest event id up to which every event has been delivered. */
  get lastEventId() {
    return this._cursor ?? 0;
  }

  start() {
    this._run();
    return this;
  }

  close() {
    this.readyState = CLOSED;
    if (this._socket) this._socket.close(1000, 'closed by the page');
    if (this._wake) this._wake();
  }

  async _run() {
    while (this.readyState !== CLOSED) {
      let renewed = false;
      try {
        const negotiated = await this._api('/realtime/negotiate');
        if (this.readyState === CLOSED) break;
        if (this._cursor === null) this._cursor = negotiated.last_event_id ?? 0;
        renewed = await this._connect(negotiated);
      } catch (error) {
        this._fail(error);
      }
      if (this.readyState === CLOSED) break;
      this.readyState = CONNECTING;
      if (renewed) continue; // planned renewal: negotiate again at once
      const { minBackoffMs, maxBackoffMs } = this.options;
      const ceiling = Math.min(maxBackoffMs, minBackoffMs * 2 ** this._attempt++);
      await this._sleep(ceiling / 2 + Math.random() * (ceiling / 2));
    }
  }

  // Resolves when the socket closes: true when it was closed to renew the token.
  _connect(negotiated) {
    return new Promise((resolve) => {
      const socket = new WebSocket(negotiated.url, SUBPROTOCOL);
      const generation = ++this._generation;
      let renewing = false;
      const lifetime = Date.parse(negotiated.expires_at) - Date.now();
      const renewIn = Math.max(1000, lifetime - Math.min(this.options.renewBeforeMs, lifetime / 5));
      const renewTimer = setTimeout(() => {
        renewing = true;
        socket.close(1000, 'renewing the access token');
      }, renewIn);
      this._socket = socket;
      socket.onmessage = (message) => {
        let frame;
        try {
          frame = JSON.parse(message.data);
        } catch {
          return;
        }
        if (frame.type === 'system' && frame.event === 'connected') {
          this._opened(generation);
        } else if (frame.type === 'message' && frame.dataType === 'json' && Number.isInteger(frame.data?.id)) {
          this._apply(frame.data, 'live');
        }
      };
      socket.onclose = () => {
        clearTimeout(renewTimer);
        if (this._socket === socket) this._socket = null;
        resolve(renewing);
      };
    });
  }

  async _opened(generation) {
    this.readyState = OPEN;
    this._attempt = 0;
    this._emit(new Event('open'));
    this._deliver({ type: 'connected' }, 'live', false);
    try {
      await this._catchUp(generation);
    } catch (error) {
      // A gap we could not fill: drop the socket so the next connection catches up again.
      this._fail(error);
      if (generation === this._generation && this._socket) this._socket.close(4000, 'catch-up failed');
    }
  }

  async _catchUp(generation) {
    let after = this._cursor;
    for (;;) {
      const page = await this._api(`/events?after=${after}&limit=${this.options.pageSize}`);
      if (generation !== this._generation) return; // a newer connection took over
      for (const event of page.events) this._apply(event, 'catch-up');
      after = page.next_after;
      this._cursor = Math.max(this._cursor, after);
      for (const id of this._seen) if (id <= this._cursor) this._seen.delete(id);
      if (page.events.length < this.options.pageSize) break;
    }
    this._emit(new Event('sync')); // caught up: everything up to now has been delivered
  }

  _apply(event, via) {
    if (event.id <= this._cursor || this._seen.has(event.id)) return; // at-least-once: dedupe by id
    this._seen.add(event.id);
    this._deliver(event, via, true);
  }

  _deliver(payload, via, typed) {
    const message = new MessageEvent('message', {
      data: JSON.stringify(payload),
      lastEventId: payload.id === undefined ? '' : String(payload.id),
    });
    message.via = via; // 'live' (the socket) or 'catch-up' (the feed)
    this._emit(message);
    if (typed) {
      const named = new CustomEvent(payload.type, { detail: payload });
      named.via = via;
      this.dispatchEvent(named);
    }
  }

  _fail(error) {
    const event = new Event('error');
    event.error = error;
    this._emit(event);
  }

  _emit(event) {
    this.dispatchEvent(event);
    const handler = this[`on${event.type}`];
    if (typeof handler === 'function') {
      try {
        handler.call(this, event);
      } catch (error) {
        setTimeout(() => {
          throw error; // report it like any listener error, without breaking the connection
        });
      }
    }
  }

  async _api(path, retried = false) {
    const token = await this.options.getToken();
    const response = await fetch(this.baseUrl + path, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
    });
    if (response.status === 401 && !retried && this.options.onUnauthorized) {
      await this.options.onUnauthorized();
      return this._api(path, true);
    }
    if (!response.ok) {
      let detail = '';
      try {
        detail = (await response.json()).detail || '';
      } catch {
        /* not problem+json */
      }
      const error = new Error(`${path} answered ${response.status}${detail ? `: ${detail}` : ''}`);
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this._wake = done;
    });
  }
}

/** Start receiving live updates: returns a LiveUpdates (an EventTarget with onmessage/onopen/onerror). */
export function connectLive(options) {
  return new LiveUpdates(options).start();
}
