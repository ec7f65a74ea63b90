// Trackly live updates for browsers: a dependency-free ES module, served at /api/realtime/client.js.
//
//   import { connectLive } from 'http://127.0.0.1:7071/api/realtime/client.js';
//   const live = connectLive({ baseUrl: 'http://127.0.0.1:7071/api', getToken: () => localStorage.getItem('access_token') });
//   live.onmessage = (e) => { const data = JSON.parse(e.data); ... };
//   live.addEventListener('issue_created', (e) => console.log(e.detail));
//   live.close();
//
// Two message formats. `messages: 'native'` (the default) delivers every event as the API has it:
// {id, type, issue_id, user_id, user_name, timestamp, data: {changes, issue, ...}} with all event
// types. `messages: 'original'` delivers exactly what the original Trackly SSE stream sent, for
// its client: only issue_created, issue_updated (status changes included) and issue_deleted, each
// {type, issue_id, user_id, user_name, timestamp, data} with `data` the issue itself (the twelve
// fields of the original issue API, read from GET /issues/{id} when the message is delivered, or
// from the event for a deleted issue), plus {type: 'connected'} after every (re)connect and
// {type: 'heartbeat'} every 30 s; failures it recovers from itself raise no `error` event (the
// original stream never failed either: a client that closes on error would otherwise give up).
//
// What it does (docs/realtime.md, "How a frontend connects"): GET /realtime/negotiate, open the
// WebSocket with subprotocol json.webpubsub.azure.v1, and after every (re)connect page through
// GET /events?after=<cursor> so that nothing committed while away is missed. Every event is applied
// once (dedupe by `id`). It negotiates again before the token expires and whenever the socket
// closes, with exponential back-off and jitter (at most maxBackoffMs), for as long as it is not
// closed: it never gives up. getToken is called for every request, so a token refreshed
// meanwhile is used at once. A {type: 'connected'} message follows every (re)connect, and a `sync`
// event fires when the catch-up after a (re)connect has finished.

const SUBPROTOCOL = 'json.webpubsub.azure.v1';
const DEFAULTS = {
  minBackoffMs: 1000,
  maxBackoffMs: 30000,
  renewBeforeMs: 60000,
  pageSize: 500,
  messages: 'native',
  heartbeatMs: 30000,
};

// messages: 'original': the original stream's three change types, and the issue fields it sent.
const ORIGINAL_TYPES = {
  issue_created: 'issue_created',
  issue_updated: 'issue_updated',
  issue_status_changed: 'issue_updated',
  issue_deleted: 'issue_deleted',
};
const ORIGINAL_ISSUE_FIELDS = [
  'id',
  'title',
  'description',
  'severity',
  'status',
  'created_by',
  'created_by_name',
  'file_url',
  'created_at',
  'updated_at',
  'updated_by',
  'updated_by_name',
];
const KNOWN_ISSUES_MAX = 500;

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
   * @param {'native' | 'original'} [options.messages] Message format (see the top of this file).
   */
  constructor(options) {
    super();
    if (!options || !options.baseUrl || typeof options.getToken !== 'function') {
      throw new TypeError('connectLive needs { baseUrl, getToken }');
    }
    if (options.messages !== undefined && !['native', 'original'].includes(options.messages)) {
      throw new TypeError("connectLive: messages is 'native' or 'original'");
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
    this._original = this.options.messages === 'original';
    this._queue = Promise.resolve(); // original messages, delivered in event order
    this._known = new Map(); // issue id -> the last issue read, for deletions (original messages)
    this._heartbeat = null;
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
    clearInterval(this._heartbeat);
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
        clearInterval(this._heartbeat);
        if (this._socket === socket) this._socket = null;
        resolve(renewing);
      };
    });
  }

  async _opened(generation) {
    this.readyState = OPEN;
    this._attempt = 0;
    this._emit(new Event('open'));
    if (this._original) {
      this._enqueue(() => this._deliver({ type: 'connected', timestamp: new Date().toISOString() }, 'live', false));
      clearInterval(this._heartbeat);
      this._heartbeat = setInterval(() => {
        this._enqueue(() => this._deliver({ type: 'heartbeat', timestamp: new Date().toISOString() }, 'live', false));
      }, this.options.heartbeatMs);
    } else {
      this._deliver({ type: 'connected' }, 'live', false);
    }
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
    await this._queue; // the original messages of the catch-up are out
    this._emit(new Event('sync')); // caught up: everything up to now has been delivered
  }

  _apply(event, via) {
    if (event.id <= this._cursor || this._seen.has(event.id)) return; // at-least-once: dedupe by id
    this._seen.add(event.id);
    if (this._original) {
      if (ORIGINAL_TYPES[event.type]) this._enqueue(() => this._deliverOriginal(event, via));
    } else {
      this._deliver(event, via, true);
    }
  }

  _enqueue(task) {
    this._queue = this._queue.then(task).catch((error) => this._fail(error));
  }

  // The original stream's message for a change: {type, issue_id, user_id, user_name, timestamp,
  // data} with the issue itself as `data`.
  async _deliverOriginal(event, via) {
    const type = ORIGINAL_TYPES[event.type];
    let issue = null;
    if (type !== 'issue_deleted') {
      try {
        issue = pick(await this._api(`/issues/${encodeURIComponent(event.issue_id)}`));
      } catch (error) {
        if (error.status !== 404) this._fail(error); // gone meanwhile (404): the event's copy will do
      }
    }
    const known = this._known.get(event.issue_id);
    if (!issue) issue = fromEvent(event, known);
    this._known.delete(event.issue_id);
    if (type !== 'issue_deleted') {
      this._known.set(event.issue_id, issue);
      if (this._known.size > KNOWN_ISSUES_MAX) this._known.delete(this._known.keys().next().value);
    }
    const { issue_id, user_id, user_name, timestamp } = event;
    this._deliver({ type, issue_id, user_id, user_name, timestamp, data: issue }, via, true, event.id);
  }

  _deliver(payload, via, typed, id = payload.id) {
    const message = new MessageEvent('message', {
      data: JSON.stringify(payload),
      lastEventId: id === undefined ? '' : String(id),
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
    // Original messages: the original stream never reported an error, and a client written for
    // it may close on one; the module retries by itself either way, and says so as `retrying`.
    const event = new Event(this._original ? 'retrying' : 'error');
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

function pick(issue) {
  const out = {};
  for (const field of ORIGINAL_ISSUE_FIELDS) out[field] = issue[field] ?? null;
  return out;
}

// A deleted issue (or one that could not be read): the event's copy of it, completed from the
// last version read where the event has no copy of a field.
function fromEvent(event, known) {
  const snapshot = event.data?.issue ?? {};
  return pick({
    ...(known ?? {}),
    ...snapshot,
    id: event.issue_id,
    description: known?.description ?? '',
    updated_at: event.timestamp,
    updated_by: event.user_id,
    updated_by_name: event.user_name,
  });
}

/** Start receiving live updates: returns a LiveUpdates (an EventTarget with onmessage/onopen/onerror). */
export function connectLive(options) {
  return new LiveUpdates(options).start();
}
