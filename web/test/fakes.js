// Test doubles for the CampfireClient unit tests: a manual clock, a scripted socket.io `io`
// function and a routing fetch. Used by the unit tests only; the e2e tests use the real thing.

import { CampfireClient, MemoryStorage } from "../campfire-client.js";

export { MemoryStorage };

/** A clock whose timers run only when the test advances time. */
export class FakeClock {
  constructor(start = 1_000_000) {
    this._now = start;
    this._timers = new Map();
    this._nextId = 1;
    this.setTimeout = (fn, ms = 0) => {
      const id = this._nextId++;
      this._timers.set(id, { at: this._now + Math.max(0, ms), fn, id });
      return id;
    };
    this.clearTimeout = (id) => {
      this._timers.delete(id);
    };
    this.now = () => this._now;
  }

  /** Pending timer delays from now, ascending. */
  pending() {
    return [...this._timers.values()].map((t) => t.at - this._now).sort((a, b) => a - b);
  }

  /** Move time forward, running due timers in order (and the promise jobs they start). */
  async advance(ms) {
    const target = this._now + ms;
    for (;;) {
      await flush();
      let next = null;
      for (const t of this._timers.values()) if (t.at <= target && (!next || t.at < next.at)) next = t;
      if (!next) break;
      this._timers.delete(next.id);
      this._now = next.at;
      next.fn();
    }
    this._now = target;
    await flush();
  }
}

/** Let pending promise jobs and I/O callbacks run. */
export async function flush(rounds = 5) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** A socket.io-client Socket look-alike driven by the test. */
export class FakeSocket {
  constructor(url, opts) {
    this.url = url;
    this.opts = opts;
    this.connected = false;
    this.id = null;
    this.connectCalls = 0;
    this.sent = []; // {event, data, ack?}
    this._handlers = new Map();
    this._any = [];
  }

  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, []);
    this._handlers.get(event).push(fn);
    return this;
  }

  onAny(fn) {
    this._any.push(fn);
    return this;
  }

  removeAllListeners() {
    this._handlers.clear();
    this._any = [];
    return this;
  }

  connect() {
    this.connectCalls += 1;
    return this;
  }

  disconnect() {
    const was = this.connected;
    this.connected = false;
    if (was) this._fire("disconnect", "io client disconnect");
    return this;
  }

  emit(event, data) {
    this.sent.push({ event, data });
    return this;
  }

  timeout(ms) {
    return {
      emit: (event, data, cb) => {
        const rec = { event, data, ack: cb, timeoutMs: ms, acked: false };
        rec.reply = (env) => {
          if (rec.acked) return;
          rec.acked = true;
          cb(null, env);
        };
        rec.fail = () => {
          if (rec.acked) return;
          rec.acked = true;
          cb(new Error("operation has timed out"));
        };
        this.sent.push(rec);
        return this;
      },
    };
  }

  // ----- driven by the test ---------------------------------------------------------------

  /** The auth payload the client would send now. */
  authPayload() {
    let out;
    this.opts.auth((p) => {
      out = p;
    });
    return out;
  }

  /** The server accepts the handshake: `connect` fires, then AuthSuccess and more as given. */
  accept({ user = { id: "me", name: "Me", role: "member" }, rooms = [], connection_id = "c1" } = {}) {
    this.connected = true;
    this.id = `sid-${this.connectCalls}`;
    this._fire("connect");
    this._fire("AuthSuccess", { user, rooms, connection_id });
  }

  refuse(data = {}, message = "refused") {
    const err = new Error(message);
    if (data) err.data = data;
    this._fire("connect_error", err);
  }

  drop(reason = "transport close") {
    this.connected = false;
    for (const rec of this.sent) if (rec.fail && !rec.acked) rec.fail();
    this._fire("disconnect", reason);
  }

  serverEmit(event, data) {
    for (const fn of this._any) fn(event, data);
    this._fire(event, data);
  }

  sentOf(event) {
    return this.sent.filter((r) => r.event === event);
  }

  _fire(event, ...args) {
    for (const fn of [...(this._handlers.get(event) || [])]) fn(...args);
  }
}

/** An `io` function that records the sockets it makes. */
export function fakeIo() {
  const sockets = [];
  const io = (url, opts) => {
    const s = new FakeSocket(url, opts);
    sockets.push(s);
    return s;
  };
  io.sockets = sockets;
  Object.defineProperty(io, "last", { get: () => sockets[sockets.length - 1] });
  return io;
}

/**
 * A fetch that answers from `routes`: a function (method, pathWithQuery, body) returning
 * {status, body, headers} or throwing (network error). Records every request.
 */
export function fakeFetch(routes) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const u = new URL(url, "http://campfire.test");
    const method = init.method || "GET";
    const body = init.body ? JSON.parse(init.body) : undefined;
    const call = { method, path: u.pathname + u.search, body, headers: init.headers || {} };
    calls.push(call);
    const r = await routes(method, call.path, body, call);
    if (r === undefined) return new Response(JSON.stringify({ error: "no route", code: "not_found" }), { status: 404 });
    const status = r.status ?? 200;
    return new Response(status === 204 ? null : JSON.stringify(r.body ?? {}), {
      status,
      headers: { "Content-Type": "application/json", ...(r.headers || {}) },
    });
  };
  fn.calls = calls;
  return fn;
}

export function networkDown() {
  throw new TypeError("fetch failed");
}

let seqIds = 0;
/** A message object as the server sends it. */
export function msg(roomId, seq, extra = {}) {
  seqIds += 1;
  return {
    id: extra.id || `m-${roomId}-${seq}`,
    room_id: roomId,
    creator_id: extra.creator_id || "u-other",
    content: extra.content || `message ${seq}`,
    client_message_id: extra.client_message_id || `cm-${roomId}-${seq}-${seqIds}`,
    created_at: extra.created_at || new Date(1_700_000_000_000 + seq * 1000).toISOString(),
    seq,
  };
}

export const ROOM = { id: "r1", name: "general", kind: "open", created_at: "2024-01-01T00:00:00Z", member_ids: ["me", "u-other"] };
export const ROOM2 = { id: "r2", name: "random", kind: "open", created_at: "2024-01-01T00:00:00Z", member_ids: ["me"] };

// ----- a client wired to the fakes ------------------------------------------------------------

export const EVENTS = [
  "message", "typingStart", "typingStop", "presence", "roomJoined", "roomLeft", "roomUpdated",
  "connectionState", "error", "ready", "synced", "queue", "messageFailed",
];

export function setup({ storage = new MemoryStorage(), routes = networkDown, random = () => 0, ...opts } = {}) {
  const clock = new FakeClock();
  const io = fakeIo();
  const fetch = fakeFetch(routes);
  const client = new CampfireClient({
    token: "tok",
    userId: "me",
    baseUrl: "http://campfire.test",
    io,
    fetch,
    storage,
    timers: clock,
    random,
    ...opts,
  });
  const events = [];
  for (const name of EVENTS) client.on(name, (d) => events.push([name, d]));
  const of = (name) => events.filter((e) => e[0] === name).map((e) => e[1]);
  const states = () => of("connectionState").map((s) => s.state);
  return { client, clock, io, fetch, storage, events, of, states };
}

/** Connect and complete the handshake with the given rooms. */
export async function online(t, { rooms = [ROOM], replay = [], last = {} } = {}) {
  await t.client.connect();
  const s = t.io.last;
  s.accept({ rooms });
  for (const m of replay) s.serverEmit("NewMessage", { message: m, room_id: m.room_id });
  s.serverEmit("SyncComplete", {
    rooms: rooms.map((r) => ({ room_id: r.id, last_seq: last[r.id] ?? 0 })),
    missed_count: replay.length,
    truncated: false,
  });
  await flush();
  return s;
}
