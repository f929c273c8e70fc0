// CampfireClient: the Campfire real-time client library.
//
// An ES module over socket.io-client that works in the browser and in Node:
//
//   // browser (the socket.io-client ESM bundle is served by the Campfire server)
//   import { CampfireClient, signIn } from "/campfire-client.js";
//   const { token, user } = await signIn({ email_address, password });
//   const client = new CampfireClient({ token, userId: user.id });
//   client.on("message", ({ message }) => ...);
//   await client.connect();
//
//   // node (real socket.io-client from npm, everything injected)
//   import { io } from "socket.io-client";
//   const client = new CampfireClient({ baseUrl: "http://127.0.0.1:8000", token, io });
//
// What it does (see PROTOCOL.md for the wire contract):
//   - authenticates with the Socket.IO auth payload {token, last_seen} on every (re)connect;
//   - keeps per-room resume cursors (the highest seq received without a gap) in storage;
//   - orders each room's messages by seq, drops duplicates by id, holds messages that arrive
//     after a gap and fills the gap over HTTP (GET /api/rooms/{id}/messages?after_seq=N);
//   - reconnects with its own exponential backoff (1 s doubling, 30 s cap, jitter, 10 attempts,
//     then "offline" until retry() is called); socket.io-client's own reconnection is off;
//   - keeps an offline queue of outgoing messages in storage; each is re-sent with its original
//     client_message_id until the server acknowledges it (the server is idempotent on it);
//   - falls back to HTTP polling when the socket cannot connect but HTTP works;
//   - throttles typing notifications (one TypingStart per 3 s at most, TypingStop after 5 s idle
//     or on send);
//   - logs to the console when localStorage.campfire_debug === "websocket".
//
// Events (client.on(name, fn)); payloads use the protocol's snake_case field names:
//   message         {message, room_id, source}  once per message id; source is "live", "replay",
//                                               "http" (gap fill, own HTTP send), "poll" or
//                                               "history". Beyond the resume cursor, messages of a
//                                               room are emitted in seq order.
//   typingStart     {user_id, room_id}
//   typingStop      {user_id, room_id}
//   presence        {room_id, online_users, recently_active?, mode: "live" | "recent"}
//   roomJoined      {room}
//   roomLeft        {room_id}
//   roomUpdated     {room}
//   connectionState {state, previous, attempt?, delay_ms?, retry_at?, reason?}
//   error           {code, message, retry_after?, client_message_id?, room_id?}
//   ready           {user, rooms, connection_id}   (AuthSuccess)
//   synced          {rooms, missed_count, truncated} (SyncComplete)
//   rooms           {rooms}                         (the room list changed)
//   queue           {pending}                       (the offline queue changed)
//   messageFailed   {item, error}                   (a queued message was refused for good)
//
// Connection states: "idle", "connecting", "syncing", "connected" (up to date), "reconnecting",
// "offline", "polling", "unauthorized", "closed".

export const DEFAULT_IO_URL = "/vendor/socket.io-client/socket.io.esm.min.js";

export const STATES = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  SYNCING: "syncing",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  OFFLINE: "offline",
  POLLING: "polling",
  UNAUTHORIZED: "unauthorized",
  CLOSED: "closed",
});

const AUTH_CODES = new Set(["auth_failed", "auth_required"]);
// Message refusals that a resend cannot fix: the item is dropped from the queue.
const PERMANENT_SEND_CODES = new Set([
  "invalid_message_format",
  "room_access_denied",
  "forbidden",
  "not_found",
  "conflict",
]);

// ---------------------------------------------------------------------------------------------
// Small helpers

/**
 * Reconnection delay for a 0-based attempt number: 1 s doubling, capped at 30 s, minus up to
 * `jitter` (a fraction) of it at random, so that clients cut off together (a server restart)
 * do not all come back in the same millisecond.
 */
export function backoffDelay(
  attempt,
  { baseMs = 1000, maxMs = 30000, jitter = 0.5, random = Math.random } = {},
) {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.max(0, Math.round(exp * (1 - jitter * random())));
}

/** A random (version 4) UUID, also outside secure contexts where crypto.randomUUID is missing. */
export function uuid() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A Storage-like object kept in memory (Node, or browsers with storage disabled). */
export class MemoryStorage {
  constructor() {
    this._m = new Map();
  }
  getItem(k) {
    return this._m.has(k) ? this._m.get(k) : null;
  }
  setItem(k, v) {
    this._m.set(k, String(v));
  }
  removeItem(k) {
    this._m.delete(k);
  }
  clear() {
    this._m.clear();
  }
}

function defaultStorage() {
  try {
    const s = globalThis.localStorage;
    if (s) {
      const probe = "__campfire_probe__";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    }
  } catch {
    // storage disabled (private mode, sandboxed frame): fall through
  }
  return new MemoryStorage();
}

const realTimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h),
  now: () => Date.now(),
};

/** Minimal event emitter; a throwing listener does not stop the others. */
export class Emitter {
  constructor() {
    this._handlers = new Map();
  }
  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(fn);
    return () => this.off(event, fn);
  }
  once(event, fn) {
    const off = this.on(event, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }
  off(event, fn) {
    this._handlers.get(event)?.delete(fn);
  }
  emit(event, ...args) {
    const set = this._handlers.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`[campfire] listener for ${event} failed`, err);
      }
    }
  }
}

/** Error of an HTTP call: status 0 is a network failure. */
export class CampfireHttpError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.name = "CampfireHttpError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function httpJson(fetchFn, url, { method = "GET", token, body, timeoutMs = 15000 } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const init = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (timeoutMs && typeof AbortSignal !== "undefined" && AbortSignal.timeout) {
    init.signal = AbortSignal.timeout(timeoutMs);
  }
  let res;
  try {
    res = await fetchFn(url, init);
  } catch (err) {
    throw new CampfireHttpError(0, "network_error", err?.message || "network error");
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const header = res.headers?.get?.("Retry-After");
    const retryAfter = data?.retry_after ?? (header != null ? Number(header) : undefined);
    throw new CampfireHttpError(
      res.status,
      data?.code || `http_${res.status}`,
      data?.error || data?.message || `HTTP ${res.status}`,
      Number.isFinite(retryAfter) ? retryAfter : undefined,
    );
  }
  return data;
}

function joinUrl(base, path) {
  if (!base) return path;
  return base.replace(/\/+$/, "") + path;
}

function defaultBaseUrl() {
  const loc = globalThis.location;
  return loc && loc.origin && loc.origin !== "null" ? loc.origin : "";
}

/** POST /api/session: returns {token, user}. */
export async function signIn({ email_address, password, baseUrl, fetch: fetchFn } = {}) {
  const f = fetchFn || globalThis.fetch.bind(globalThis);
  return httpJson(f, joinUrl(baseUrl ?? defaultBaseUrl(), "/api/session"), {
    method: "POST",
    body: { email_address, password },
  });
}

// ---------------------------------------------------------------------------------------------
// Per-room timeline: ordering by seq, de-duplication by id, gap detection

/**
 * The messages of one room, kept sorted by seq.
 *
 * `cursor` is the highest seq received with nothing missing between it and the first message this
 * timeline started from (or the cursor it was created with). A message right after the cursor is
 * accepted and advances it; a message further ahead is held until the gap is filled; a message at
 * or below the cursor is older history and simply inserted.
 */
export class RoomTimeline {
  constructor(roomId, cursor = null) {
    this.roomId = roomId;
    this.cursor = Number.isInteger(cursor) ? cursor : null;
    this.messages = []; // accepted, ascending seq
    this._ids = new Set(); // ids of accepted and held messages
    this._seqs = new Set(); // seqs of accepted messages
    this.held = new Map(); // seq -> message waiting for a gap to be filled
  }

  has(id) {
    return this._ids.has(id);
  }

  get hasGap() {
    return this.held.size > 0;
  }

  get minSeq() {
    return this.messages.length ? this.messages[0].seq : null;
  }

  get maxSeq() {
    let max = this.messages.length ? this.messages[this.messages.length - 1].seq : null;
    for (const s of this.held.keys()) if (max == null || s > max) max = s;
    return max;
  }

  /** The lowest missing seq range (after, before) with before exclusive, or null. */
  gap() {
    if (!this.held.size || this.cursor == null) return null;
    const firstHeld = Math.min(...this.held.keys());
    return { after: this.cursor, before: firstHeld };
  }

  /**
   * Add one message; returns {accepted: [messages now in the timeline, in order], duplicate,
   * held}. `accepted` may contain held messages released by this one.
   */
  add(message) {
    const out = { accepted: [], duplicate: false, held: false };
    if (!message || typeof message.seq !== "number" || !message.id) return out;
    if (this._ids.has(message.id) || this._seqs.has(message.seq) || this.held.has(message.seq)) {
      out.duplicate = true;
      return out;
    }
    if (this.cursor == null) {
      this.cursor = message.seq - 1;
    }
    if (message.seq <= this.cursor) {
      this._insert(message);
      out.accepted.push(message);
      return out;
    }
    if (message.seq === this.cursor + 1) {
      this._insert(message);
      this.cursor = message.seq;
      out.accepted.push(message);
      out.accepted.push(...this._drain());
      return out;
    }
    this.held.set(message.seq, message);
    this._ids.add(message.id);
    out.held = true;
    return out;
  }

  /** Give up on the gap: accept every held message (used when the server has nothing to fill it). */
  releaseHeld() {
    if (!this.held.size) return [];
    const seqs = [...this.held.keys()].sort((a, b) => a - b);
    const released = [];
    for (const s of seqs) {
      const m = this.held.get(s);
      this.held.delete(s);
      this._insert(m);
      released.push(m);
    }
    this.cursor = Math.max(this.cursor ?? 0, seqs[seqs.length - 1]);
    return released;
  }

  _drain() {
    const released = [];
    while (this.held.has(this.cursor + 1)) {
      const m = this.held.get(this.cursor + 1);
      this.held.delete(this.cursor + 1);
      this._insert(m);
      this.cursor = m.seq;
      released.push(m);
    }
    return released;
  }

  _insert(message) {
    this._ids.add(message.id);
    this._seqs.add(message.seq);
    const list = this.messages;
    if (!list.length || list[list.length - 1].seq < message.seq) {
      list.push(message);
      return;
    }
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].seq < message.seq) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, message);
  }
}

// ---------------------------------------------------------------------------------------------
// Offline queue

/**
 * Outgoing messages not yet acknowledged by the server, persisted in storage so that they survive
 * a page reload. Each keeps the client_message_id it was created with.
 */
export class OfflineQueue {
  constructor(storage, key) {
    this._storage = storage;
    this._key = key;
    this.items = [];
    this.load();
  }

  load() {
    try {
      const raw = this._storage.getItem(this._key);
      const parsed = raw ? JSON.parse(raw) : [];
      this.items = Array.isArray(parsed)
        ? parsed.filter((i) => i && i.client_message_id && i.room_id && typeof i.content === "string")
        : [];
    } catch {
      this.items = [];
    }
    return this.items;
  }

  save() {
    try {
      if (this.items.length) this._storage.setItem(this._key, JSON.stringify(this.items));
      else this._storage.removeItem(this._key);
    } catch {
      // quota exceeded: the queue still lives in memory
    }
  }

  // Every change re-reads storage first, so that tabs of the same user do not overwrite each
  // other's queued messages (a message queued in one tab may then be sent by another; the server
  // is idempotent on client_message_id, so it is still stored once).
  add(item) {
    this.load();
    this.items.push(item);
    this.save();
    return item;
  }

  get(clientMessageId) {
    return this.items.find((i) => i.client_message_id === clientMessageId) || null;
  }

  remove(clientMessageId) {
    if (!this.items.some((i) => i.client_message_id === clientMessageId)) return false;
    this.load();
    const before = this.items.length;
    this.items = this.items.filter((i) => i.client_message_id !== clientMessageId);
    if (this.items.length !== before) {
      this.save();
      return true;
    }
    return false;
  }

  removeRoom(roomId) {
    this.load();
    const removed = this.items.filter((i) => i.room_id === roomId);
    if (removed.length) {
      this.items = this.items.filter((i) => i.room_id !== roomId);
      this.save();
    }
    return removed;
  }

  get head() {
    return this.items[0] || null;
  }

  get length() {
    return this.items.length;
  }
}

// ---------------------------------------------------------------------------------------------
// The client

export class CampfireClient extends Emitter {
  /**
   * @param {object} options
   * @param {string} options.token            session token from POST /api/session
   * @param {string} [options.userId]         the signed-in user's id (keys the stored cursors/queue)
   * @param {string} [options.baseUrl]        server origin; defaults to location.origin in a browser
   * @param {Function} [options.io]           socket.io-client's `io`; loaded from DEFAULT_IO_URL if absent
   * @param {string} [options.ioUrl]          module URL to load `io` from in a browser
   * @param {Function} [options.fetch]        fetch implementation (default globalThis.fetch)
   * @param {Storage} [options.storage]       Storage-like object (default localStorage, else memory)
   * @param {object} [options.timers]         {setTimeout, clearTimeout, now} (tests)
   * @param {Function} [options.random]       () => [0, 1) for the backoff jitter (tests)
   * @param {string[]} [options.transports]   socket.io transports (default ["websocket"])
   * @param {boolean} [options.debug]         console logging (default: localStorage.campfire_debug === "websocket")
   */
  constructor(options = {}) {
    super();
    if (!options.token) throw new TypeError("CampfireClient: options.token is required");
    this.token = options.token;
    this.userId = options.userId || null;
    this.baseUrl = options.baseUrl ?? defaultBaseUrl();
    this._io = options.io || null;
    this._ioUrl = options.ioUrl || DEFAULT_IO_URL;
    this._fetch = options.fetch || globalThis.fetch?.bind(globalThis);
    this._storage = options.storage || defaultStorage();
    this._t = options.timers || realTimers;
    this._random = options.random || Math.random;
    this._transports = options.transports || ["websocket"];
    this._socketPath = options.socketPath || "/socket.io/";

    this.maxAttempts = options.maxReconnectAttempts ?? 10;
    this.backoff = {
      baseMs: options.backoffBaseMs ?? 1000,
      maxMs: options.backoffMaxMs ?? 30000,
      jitter: options.backoffJitter ?? 0.5,
    };
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10000;
    this.gapFillDelayMs = options.gapFillDelayMs ?? 250;
    this.pollIntervalMs = options.pollIntervalMs ?? 3000;
    this.pollAfterFailures = options.pollAfterFailures ?? 2; // socket failures with HTTP fine
    this.pollingEnabled = options.polling ?? true;
    this.typingThrottleMs = options.typingThrottleMs ?? 3000;
    this.typingIdleMs = options.typingIdleMs ?? 5000;
    this.remoteTypingTtlMs = options.remoteTypingTtlMs ?? 8000;
    this.historyPageSize = options.historyPageSize ?? 50;

    const debugFlag = (() => {
      try {
        return this._storage.getItem("campfire_debug") === "websocket";
      } catch {
        return false;
      }
    })();
    this.debug = options.debug ?? debugFlag;

    const ns = options.storagePrefix || `campfire:${this.userId || "default"}`;
    this._cursorKey = `${ns}:last_seen`;
    this.queue = new OfflineQueue(this._storage, `${ns}:queue`);

    this.state = STATES.IDLE;
    this.user = null;
    this.connectionId = null;
    this.rooms = new Map(); // id -> room
    this.lastSeq = new Map(); // room id -> highest seq known to exist
    this._timelines = new Map(); // room id -> RoomTimeline
    this._storedCursors = this._loadCursors();
    this._online = new Map(); // room id -> Set(user id)
    this._recent = new Map(); // room id -> Set(user id), polling mode
    this._remoteTyping = new Map(); // room id -> Map(user id -> timer)
    this._myTyping = new Map(); // room id -> {lastStart, idleTimer}
    this._delivered = new Map(); // client_message_id -> {message_id, seq, room_id, content, ...}
    this._gapTimers = new Map();
    this._heldSources = new Map(); // message id -> source, for messages held behind a gap
    this._gapFetching = new Set();
    this._activeRoomId = null;

    this._socket = null;
    this._authenticated = false;
    this._syncing = false;
    this._started = false;
    this._attempt = 0;
    this._httpOkFailures = 0;
    this._reconnectTimer = null;
    this._pollTimer = null;
    this._polling = false;
    this._pumping = false;
    this._pumpTimer = null;
  }

  // ----- logging -----------------------------------------------------------------------------

  _log(...args) {
    if (this.debug) console.debug("[campfire]", ...args);
  }

  // ----- state ---------------------------------------------------------------------------------

  _setState(state, extra = {}) {
    const previous = this.state;
    this.state = state;
    const info = { state, previous, ...extra };
    this.stateInfo = info;
    this._log("state", previous, "->", state, extra);
    this.emit("connectionState", info);
  }

  get connected() {
    return this._authenticated && !!this._socket?.connected;
  }

  get polling() {
    return this._polling;
  }

  // ----- public API: lifecycle -----------------------------------------------------------------

  /** Start connecting. Resolves once the attempt is under way (not when authenticated). */
  async connect() {
    if (this._started) return;
    this._started = true;
    if (!this._io) {
      const mod = await import(/* @vite-ignore */ this._ioUrl);
      this._io = mod.io || mod.default;
    }
    if (!this._started) return; // closed while loading
    this._attempt = 0;
    this._httpOkFailures = 0;
    this._openSocket();
  }

  /** Close for good (no reconnection). Queued messages stay in storage. */
  close() {
    this._started = false;
    this._clearReconnect();
    this._stopPolling();
    this._t.clearTimeout(this._pumpTimer);
    for (const t of this._gapTimers.values()) this._t.clearTimeout(t);
    this._gapTimers.clear();
    for (const [roomId] of this._myTyping) this._clearMyTyping(roomId);
    this._clearRemoteTyping();
    this._authenticated = false;
    if (this._socket) {
      const s = this._socket;
      this._socket = null;
      s.removeAllListeners?.();
      s.disconnect();
    }
    if (this.state !== STATES.UNAUTHORIZED) this._setState(STATES.CLOSED);
  }

  /** Alias of close(). */
  disconnect() {
    this.close();
  }

  /** Try to connect now (the "retry" of the offline state; also cuts a backoff wait short). */
  retry() {
    if (!this._started) {
      this.connect();
      return;
    }
    if (this.connected) return;
    this._clearReconnect();
    this._attempt = 0;
    this._httpOkFailures = 0;
    this._openSocket();
  }

  /** DELETE /api/session, then close. */
  async signOut() {
    try {
      await this._http("DELETE", "/api/session");
    } finally {
      this.close();
    }
  }

  // ----- public API: data ------------------------------------------------------------------------

  getRooms() {
    return [...this.rooms.values()];
  }

  getRoom(roomId) {
    return this.rooms.get(roomId) || null;
  }

  /** The room's messages received so far, ascending by seq. */
  getMessages(roomId) {
    return this._timelines.get(roomId)?.messages.slice() || [];
  }

  /** Messages written but not yet in the timeline: {status: "queued" | "sent", ...item}. */
  getPending(roomId) {
    const out = [];
    for (const item of this.queue.items) {
      if (roomId == null || item.room_id === roomId) out.push({ ...item, status: "queued" });
    }
    for (const item of this._delivered.values()) {
      if (roomId == null || item.room_id === roomId) out.push({ ...item, status: "sent" });
    }
    return out;
  }

  getCursor(roomId) {
    const tl = this._timelines.get(roomId);
    if (tl && tl.cursor != null) return tl.cursor;
    return this._storedCursors[roomId] ?? null;
  }

  /** {room_id: seq} for every room with a cursor: sent as `last_seen` on (re)connect. */
  getCursors() {
    const out = {};
    for (const [roomId, seq] of Object.entries(this._storedCursors)) out[roomId] = seq;
    for (const [roomId, tl] of this._timelines) if (tl.cursor != null) out[roomId] = tl.cursor;
    return out;
  }

  getOnline(roomId) {
    return [...(this._online.get(roomId) || [])];
  }

  getRecentlyActive(roomId) {
    return [...(this._recent.get(roomId) || [])];
  }

  getTyping(roomId) {
    return [...(this._remoteTyping.get(roomId)?.keys() || [])];
  }

  getLastSeq(roomId) {
    return this.lastSeq.get(roomId) ?? 0;
  }

  /** True when older messages than those loaded may exist on the server. */
  hasOlder(roomId) {
    const tl = this._timelines.get(roomId);
    if (!tl || tl.minSeq == null) return true; // nothing loaded yet: unknown
    return tl.minSeq > 1;
  }

  /** Which room the page shows: its presence is refreshed while polling. */
  setActiveRoom(roomId) {
    this._activeRoomId = roomId;
    if (!roomId) return;
    if (this.connected) this.requestPresence(roomId);
    else if (this._polling) this._pollPresence(roomId).catch(() => {});
  }

  // ----- public API: actions ---------------------------------------------------------------------

  /**
   * Queue a message and send it as soon as possible. Returns the queued item (with its
   * client_message_id). It is delivered exactly once, across disconnects and reloads.
   */
  sendMessage(roomId, content) {
    if (typeof content !== "string" || !content.trim()) {
      throw new TypeError("message content must be a non-empty string");
    }
    this.stopTyping(roomId);
    const item = this.queue.add({
      client_message_id: uuid(),
      room_id: roomId,
      content,
      created_at: new Date(this._t.now()).toISOString(),
    });
    this._log("queued", item.client_message_id, "for", roomId);
    this._queueChanged();
    this._pump();
    return item;
  }

  /** Drop a queued (not yet acknowledged) message. */
  discardPending(clientMessageId) {
    if (this.queue.remove(clientMessageId)) this._queueChanged();
  }

  /** Call on every keystroke in a room's composer. */
  typing(roomId) {
    if (!this.connected || !roomId) return;
    const now = this._t.now();
    let st = this._myTyping.get(roomId);
    if (!st) {
      st = { lastStart: -Infinity, idleTimer: null };
      this._myTyping.set(roomId, st);
    }
    if (now - st.lastStart >= this.typingThrottleMs && now >= (this._typingPausedUntil || 0)) {
      st.lastStart = now;
      this._emitSocket("TypingStart", { room_id: roomId });
    }
    this._t.clearTimeout(st.idleTimer);
    st.idleTimer = this._t.setTimeout(() => this.stopTyping(roomId), this.typingIdleMs);
  }

  /** Ends this user's typing in a room (sends TypingStop if a TypingStart went out). */
  stopTyping(roomId) {
    const st = this._myTyping.get(roomId);
    if (!st) return;
    this._clearMyTyping(roomId);
    if (this.connected) this._emitSocket("TypingStop", { room_id: roomId });
  }

  _clearMyTyping(roomId) {
    const st = this._myTyping.get(roomId);
    if (st) this._t.clearTimeout(st.idleTimer);
    this._myTyping.delete(roomId);
  }

  /** Ask for a room's presence (answered by a `presence` event). */
  requestPresence(roomId) {
    if (this.connected) {
      this._emitSocketAck("GetPresence", { room_id: roomId }).then(
        (env) => {
          if (env?.type === "PresenceUpdate") this._onPresenceUpdate(env.data);
        },
        () => {},
      );
    } else {
      this._pollPresence(roomId).catch(() => {});
    }
  }

  /** Load up to `limit` messages older than those loaded (or the latest when none). */
  async loadOlder(roomId, limit = this.historyPageSize) {
    const tl = this._timeline(roomId);
    const params = new URLSearchParams({ limit: String(limit) });
    if (tl.minSeq != null) {
      if (tl.minSeq <= 1) return 0;
      params.set("before_seq", String(tl.minSeq));
    }
    const data = await this._http("GET", `/api/rooms/${enc(roomId)}/messages?${params}`);
    const messages = data?.messages || [];
    this._ingestMany(roomId, messages, "history");
    return messages.length;
  }

  async createRoom({ name, kind = "open", member_ids } = {}) {
    const body = { name, kind };
    if (member_ids) body.member_ids = member_ids;
    const data = await this._http("POST", "/api/rooms", body);
    if (data?.room) this._addRoom(data.room, true);
    return data?.room;
  }

  async renameRoom(roomId, name) {
    const data = await this._http("PATCH", `/api/rooms/${enc(roomId)}`, { name });
    if (data?.room) this._updateRoom(data.room);
    return data?.room;
  }

  async addMember(roomId, userId) {
    await this._http("POST", `/api/rooms/${enc(roomId)}/members`, { user_id: userId });
    const room = this.rooms.get(roomId);
    if (room && Array.isArray(room.member_ids) && !room.member_ids.includes(userId)) {
      this._updateRoom({ ...room, member_ids: [...room.member_ids, userId] });
    }
  }

  async removeMember(roomId, userId) {
    await this._http("DELETE", `/api/rooms/${enc(roomId)}/members/${enc(userId)}`);
    if (userId === this.user?.id || userId === this.userId) this._removeRoom(roomId);
  }

  async joinRoom(roomId) {
    if (this.connected) {
      const env = await this._emitSocketAck("JoinRoom", { room_id: roomId });
      if (env?.type !== "RoomJoined") throw ackError(env);
      this._addRoom(env.data.room, true);
      return env.data.room;
    }
    const me = this.user?.id || this.userId;
    await this._http("POST", `/api/rooms/${enc(roomId)}/members`, { user_id: me });
    await this.refreshRooms();
    return this.rooms.get(roomId) || null;
  }

  async leaveRoom(roomId) {
    if (this.connected) {
      const env = await this._emitSocketAck("LeaveRoom", { room_id: roomId });
      if (env?.type !== "RoomLeft") throw ackError(env);
      this._removeRoom(roomId);
      return;
    }
    const me = this.user?.id || this.userId;
    await this._http("DELETE", `/api/rooms/${enc(roomId)}/members/${enc(me)}`);
    this._removeRoom(roomId);
  }

  /** GET /api/rooms, reconciled with the known list (emits roomJoined / roomLeft / roomUpdated). */
  async refreshRooms() {
    const data = await this._http("GET", "/api/rooms");
    this._reconcileRooms(data?.rooms || [], true);
    return this.getRooms();
  }

  /** GET /api/users: the user directory ([] when the server has no such endpoint). */
  async listUsers() {
    try {
      const data = await this._http("GET", "/api/users");
      return data?.users || [];
    } catch (err) {
      if (err.status === 404 || err.status === 405 || err.status === 403) return [];
      throw err;
    }
  }

  async me() {
    const data = await this._http("GET", "/api/me");
    return data?.user;
  }

  // ----- HTTP ----------------------------------------------------------------------------------

  async _http(method, path, body) {
    try {
      return await httpJson(this._fetch, joinUrl(this.baseUrl, path), {
        method,
        token: this.token,
        body,
      });
    } catch (err) {
      if (err.status === 401 && this._started) this._unauthorized(err.code || "auth_failed");
      throw err;
    }
  }

  // ----- socket ----------------------------------------------------------------------------------

  _authPayload() {
    const payload = { token: this.token };
    const cursors = this.getCursors();
    // Only rooms the user is still in (or, before AuthSuccess, every stored room).
    if (this.rooms.size) {
      for (const roomId of Object.keys(cursors)) if (!this.rooms.has(roomId)) delete cursors[roomId];
    }
    if (Object.keys(cursors).length) payload.last_seen = cursors;
    this._log("auth payload cursors", payload.last_seen || {});
    return payload;
  }

  _openSocket() {
    if (!this._started || this._socket?.connected) return;
    if (!this._polling) {
      this._setState(STATES.CONNECTING, { attempt: this._attempt });
    }
    if (!this._socket) {
      this._socket = this._io(this.baseUrl || undefined, {
        path: this._socketPath,
        transports: this._transports,
        reconnection: false, // our own backoff, see _scheduleReconnect
        forceNew: true,
        autoConnect: false,
        timeout: this.connectTimeoutMs,
        auth: (cb) => cb(this._authPayload()),
      });
      this._bindSocket(this._socket);
    }
    this._socket.connect();
  }

  _bindSocket(socket) {
    socket.onAny?.((event, ...args) => this._log("<-", event, ...args));
    socket.on("connect", () => {
      this._log("socket connected", socket.id);
      this._clearReconnect();
      if (this._polling) this._stopPolling();
      this._setState(STATES.SYNCING);
    });
    socket.on("connect_error", (err) => this._onConnectError(err));
    socket.on("disconnect", (reason) => this._onSocketDisconnect(reason));
    socket.on("AuthSuccess", (d) => this._onAuthSuccess(d || {}));
    socket.on("AuthError", (d) => {
      if (d?.code === "too_many_connections") {
        this.emit("error", { code: d.code, message: d.error || "too many connections" });
      } else {
        this._unauthorized(d?.code || "auth_failed");
      }
    });
    socket.on("SyncComplete", (d) => this._onSyncComplete(d || {}));
    socket.on("NewMessage", (d) => {
      if (d?.message) this._ingest(d.room_id || d.message.room_id, d.message, this._syncing ? "replay" : "live");
    });
    socket.on("TypingStart", (d) => this._onRemoteTyping(d, true));
    socket.on("TypingStop", (d) => this._onRemoteTyping(d, false));
    socket.on("PresenceUpdate", (d) => this._onPresenceUpdate(d));
    socket.on("UserJoined", (d) => this._onPresenceDelta(d, true));
    socket.on("UserLeft", (d) => this._onPresenceDelta(d, false));
    socket.on("RoomJoined", (d) => d?.room && this._addRoom(d.room, true));
    socket.on("RoomLeft", (d) => d?.room_id && this._removeRoom(d.room_id));
    socket.on("RoomUpdated", (d) => d?.room && this._updateRoom(d.room));
    socket.on("Error", (d) => {
      // Only events sent without an ack (TypingStart/TypingStop) fail through `Error`: over the
      // typing rate, stay quiet for retry_after.
      if (d?.code === "rate_limit_exceeded") {
        this._typingPausedUntil = this._t.now() + Math.ceil((d.retry_after || 10) * 1000);
      }
      this.emit("error", { ...(d || {}) });
    });
    socket.on("Disconnect", (d) => {
      this._serverReason = d?.reason;
      if (d?.reason === "session_revoked") this._unauthorized("session_revoked");
    });
  }

  _emitSocket(event, data) {
    if (!this._socket?.connected) return false;
    this._log("->", event, data);
    this._socket.emit(event, data);
    return true;
  }

  _emitSocketAck(event, data, timeoutMs = this.ackTimeoutMs) {
    return new Promise((resolve, reject) => {
      const socket = this._socket;
      if (!socket?.connected) {
        reject(Object.assign(new Error("not connected"), { code: "not_connected" }));
        return;
      }
      this._log("->", event, data);
      socket.timeout(timeoutMs).emit(event, data, (err, env) => {
        if (err) reject(Object.assign(new Error("ack timeout"), { code: "ack_timeout" }));
        else resolve(env);
      });
    });
  }

  async _onConnectError(err) {
    if (!this._started) return;
    const data = err?.data || {};
    const code = data.code;
    this.lastConnectError = { message: err?.message, ...data };
    this._log("connect_error", err?.message, data);
    if (AUTH_CODES.has(code)) {
      this._unauthorized(code);
      return;
    }
    if (code) this.emit("error", { code, message: data.message || err.message, retry_after: data.retry_after });
    const minDelayMs = data.retry_after ? Math.ceil(Number(data.retry_after) * 1000) : 0;
    // Is it the socket that fails while HTTP works (a proxy that blocks WebSockets, the
    // per-user connection limit)? Then poll over HTTP meanwhile.
    if (this.pollingEnabled && code !== "rate_limit_exceeded" && code !== "server_overloaded") {
      const ok = await this._probeHttp();
      // Meanwhile a retry() may have connected, or the client may have been closed.
      if (!this._started || this.state === STATES.UNAUTHORIZED || this._socket?.connected) return;
      if (ok) {
        this._httpOkFailures += 1;
        if (!this._polling && this._httpOkFailures >= this.pollAfterFailures) this._startPolling();
      } else {
        this._httpOkFailures = 0;
        if (this._polling) this._stopPolling();
      }
    }
    this._scheduleReconnect(minDelayMs);
  }

  async _probeHttp() {
    try {
      await this._http("GET", "/api/me");
      return true;
    } catch {
      return false;
    }
  }

  _onSocketDisconnect(reason) {
    this._log("socket disconnected", reason, this._serverReason || "");
    const wasAuthenticated = this._authenticated;
    this._authenticated = false;
    this._syncing = false;
    this._clearRemoteTyping();
    for (const [roomId] of this._myTyping) this._clearMyTyping(roomId);
    // Presence is unknown while cut off (PresenceUpdate refills it after the next AuthSuccess).
    for (const roomId of [...this._online.keys()]) {
      this._online.delete(roomId);
      this._emitPresence(roomId);
    }
    if (!this._started || this.state === STATES.UNAUTHORIZED) return;
    this._serverReason = undefined;
    if (wasAuthenticated) {
      this._attempt = 0;
      this._httpOkFailures = 0;
    }
    this._scheduleReconnect(0, reason);
  }

  _scheduleReconnect(minDelayMs = 0, reason) {
    if (!this._started) return;
    this._clearReconnect();
    if (!this._polling && this._attempt >= this.maxAttempts) {
      this._setState(STATES.OFFLINE, { attempt: this._attempt, reason });
      return;
    }
    // While polling, the socket is still tried in the background, on the same backoff (capped).
    const delay = Math.max(minDelayMs, backoffDelay(this._attempt, { ...this.backoff, random: this._random }));
    this._attempt += 1;
    const retryAt = this._t.now() + delay;
    if (!this._polling) {
      this._setState(STATES.RECONNECTING, {
        attempt: this._attempt,
        max_attempts: this.maxAttempts,
        delay_ms: delay,
        retry_at: retryAt,
        reason,
      });
    }
    this._log("reconnect attempt", this._attempt, "in", delay, "ms");
    this._reconnectTimer = this._t.setTimeout(() => {
      this._reconnectTimer = null;
      this._openSocket();
    }, delay);
  }

  _clearReconnect() {
    if (this._reconnectTimer != null) this._t.clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
  }

  _unauthorized(code) {
    if (this.state === STATES.UNAUTHORIZED) return;
    this._log("unauthorized", code);
    this._started = false;
    this._clearReconnect();
    this._stopPolling();
    this._authenticated = false;
    if (this._socket) {
      const s = this._socket;
      this._socket = null;
      s.removeAllListeners?.();
      s.disconnect();
    }
    this._setState(STATES.UNAUTHORIZED, { reason: code });
    this.emit("error", { code, message: code === "session_revoked" ? "signed out" : "authentication failed" });
  }

  _onAuthSuccess({ user, rooms, connection_id }) {
    this._authenticated = true;
    this._syncing = true;
    this._attempt = 0;
    this._httpOkFailures = 0;
    this.user = user || this.user;
    if (!this.userId && user?.id) this.userId = user.id;
    this.connectionId = connection_id;
    this._reconcileRooms(rooms || [], this._readyOnce === true);
    this._readyOnce = true;
    this.emit("ready", { user: this.user, rooms: this.getRooms(), connection_id });
    this._pump();
  }

  _onSyncComplete({ rooms, missed_count, truncated }) {
    this._syncing = false;
    for (const r of rooms || []) {
      if (r?.room_id == null) continue;
      this._bumpLastSeq(r.room_id, r.last_seq || 0);
    }
    this._setState(STATES.CONNECTED, { missed_count, truncated });
    this.emit("synced", { rooms: rooms || [], missed_count, truncated });
    for (const roomId of this.rooms.keys()) this._checkGap(roomId, 0);
    if (this._activeRoomId) this.requestPresence(this._activeRoomId);
    this._pump();
  }

  // ----- rooms -----------------------------------------------------------------------------------

  _reconcileRooms(list, announce) {
    const seen = new Set();
    for (const room of list) {
      if (!room?.id) continue;
      seen.add(room.id);
      if (!this.rooms.has(room.id)) this._addRoom(room, announce, true);
      else if (JSON.stringify(this.rooms.get(room.id)) !== JSON.stringify(room)) this._updateRoom(room, true);
    }
    for (const id of [...this.rooms.keys()]) if (!seen.has(id)) this._removeRoom(id, true);
    this.emit("rooms", { rooms: this.getRooms() });
  }

  _addRoom(room, announce, quiet) {
    const isNew = !this.rooms.has(room.id);
    this.rooms.set(room.id, { ...(this.rooms.get(room.id) || {}), ...room });
    this._timeline(room.id);
    if (isNew && announce) this.emit("roomJoined", { room: this.rooms.get(room.id) });
    if (!quiet) this.emit("rooms", { rooms: this.getRooms() });
    if (isNew && this.connected) this.requestPresence(room.id);
  }

  _updateRoom(room, quiet) {
    if (!this.rooms.has(room.id)) return;
    this.rooms.set(room.id, { ...this.rooms.get(room.id), ...room });
    this.emit("roomUpdated", { room: this.rooms.get(room.id) });
    if (!quiet) this.emit("rooms", { rooms: this.getRooms() });
  }

  _removeRoom(roomId, quiet) {
    if (!this.rooms.has(roomId)) return;
    this.rooms.delete(roomId);
    this._timelines.delete(roomId);
    this._online.delete(roomId);
    this._recent.delete(roomId);
    this._remoteTyping.delete(roomId);
    this.lastSeq.delete(roomId);
    delete this._storedCursors[roomId];
    this._saveCursors(roomId);
    this.emit("roomLeft", { room_id: roomId });
    if (!quiet) this.emit("rooms", { rooms: this.getRooms() });
  }

  // ----- messages, cursors, gaps ---------------------------------------------------------------

  _timeline(roomId) {
    let tl = this._timelines.get(roomId);
    if (!tl) {
      tl = new RoomTimeline(roomId, this._storedCursors[roomId] ?? null);
      this._timelines.set(roomId, tl);
    }
    return tl;
  }

  _ingestMany(roomId, messages, source) {
    for (const m of messages) this._ingest(roomId || m.room_id, m, source);
  }

  _ingest(roomId, message, source) {
    roomId = roomId || message?.room_id;
    if (!roomId || !message) return;
    const tl = this._timeline(roomId);
    const cursorBefore = tl.cursor;
    const res = tl.add(message);
    if (res.duplicate) {
      this._log("duplicate", message.id, "seq", message.seq);
      return;
    }
    this._bumpLastSeq(roomId, message.seq);
    if (res.held) {
      this._heldSources.set(message.id, source);
      this._log("gap in", roomId, "holding seq", message.seq, "cursor", tl.cursor);
      if (!this._syncing) this._checkGap(roomId, this.gapFillDelayMs);
    }
    if (res.accepted.length) this._accepted(roomId, res.accepted, source);
    if (tl.cursor !== cursorBefore) this._saveCursors();
  }

  _accepted(roomId, messages, source) {
    let queueChanged = false;
    for (const m of messages) {
      const cmid = m.client_message_id;
      if (cmid && this.queue.remove(cmid)) queueChanged = true;
      if (cmid && this._delivered.delete(cmid)) queueChanged = true;
      const typers = this._remoteTyping.get(roomId);
      if (typers?.has(m.creator_id)) this._setRemoteTyping(roomId, m.creator_id, false);
      const src = this._heldSources.get(m.id) ?? source;
      this._heldSources.delete(m.id);
      this.emit("message", { message: m, room_id: roomId, source: src });
    }
    if (queueChanged) this._queueChanged();
  }

  _bumpLastSeq(roomId, seq) {
    if (typeof seq === "number" && seq > (this.lastSeq.get(roomId) ?? 0)) this.lastSeq.set(roomId, seq);
  }

  _loadCursors() {
    try {
      const raw = this._storage.getItem(this._cursorKey);
      const parsed = raw ? JSON.parse(raw) : {};
      const out = {};
      for (const [k, v] of Object.entries(parsed || {})) if (Number.isInteger(v) && v >= 0) out[k] = v;
      return out;
    } catch {
      return {};
    }
  }

  _saveCursors(removedRoomId) {
    // Merge with what another tab of the same user may have written, keeping the highest cursor per
    // room: the stored cursors only seed a fresh page, whose timelines start empty anyway.
    const merged = this._loadCursors();
    for (const [roomId, seq] of Object.entries(this.getCursors())) {
      merged[roomId] = Math.max(seq, merged[roomId] ?? -1);
    }
    if (removedRoomId) delete merged[removedRoomId];
    try {
      this._storage.setItem(this._cursorKey, JSON.stringify(merged));
    } catch {
      // ignore quota errors
    }
  }

  /** Fetch missing messages of a room over HTTP: the held gap, or up to the known last seq. */
  _checkGap(roomId, delayMs) {
    const tl = this._timelines.get(roomId);
    if (!tl) return;
    const behind = tl.cursor != null && this.getLastSeq(roomId) > tl.cursor;
    if (!tl.hasGap && !behind) return;
    if (this._gapTimers.has(roomId) || this._gapFetching.has(roomId)) return;
    if (delayMs > 0) {
      const timer = this._t.setTimeout(() => {
        this._gapTimers.delete(roomId);
        this._fillGap(roomId);
      }, delayMs);
      this._gapTimers.set(roomId, timer);
    } else {
      this._fillGap(roomId);
    }
  }

  async _fillGap(roomId) {
    const tl = this._timelines.get(roomId);
    if (!tl || this._gapFetching.has(roomId)) return;
    this._gapFetching.add(roomId);
    try {
      for (let round = 0; round < 100; round++) {
        const gap = tl.gap();
        const target = gap ? gap.before - 1 : this.getLastSeq(roomId);
        if (tl.cursor == null || tl.cursor >= target) break;
        this._log("filling gap in", roomId, "after", tl.cursor, "up to", target);
        const after = tl.cursor;
        const data = await this._http(
          "GET",
          `/api/rooms/${enc(roomId)}/messages?after_seq=${after}&limit=200`,
        );
        if (this._timelines.get(roomId) !== tl) return; // room left meanwhile
        const messages = data?.messages || [];
        this._ingestMany(roomId, messages, "http");
        if (tl.cursor === after) {
          // The server has nothing to fill it with: release what we hold rather than stall.
          const released = tl.releaseHeld();
          if (released.length) {
            this._accepted(roomId, released, "live");
            this._saveCursors();
          }
          break;
        }
      }
    } catch (err) {
      this._log("gap fill failed", roomId, err?.message);
      // Retry later (a reconnect also resumes from the cursor).
      if (this._started && err?.status !== 401) {
        const timer = this._t.setTimeout(() => {
          this._gapTimers.delete(roomId);
          this._fillGap(roomId);
        }, 2000);
        this._gapTimers.set(roomId, timer);
      }
    } finally {
      this._gapFetching.delete(roomId);
    }
  }

  // ----- presence and typing ---------------------------------------------------------------------

  _onPresenceUpdate(d) {
    if (!d?.room_id) return;
    this._online.set(d.room_id, new Set(d.online_users || []));
    this._emitPresence(d.room_id);
  }

  _onPresenceDelta(d, joined) {
    if (!d?.room_id || !d.user_id) return;
    let set = this._online.get(d.room_id);
    if (!set) {
      set = new Set();
      this._online.set(d.room_id, set);
    }
    if (joined) set.add(d.user_id);
    else set.delete(d.user_id);
    if (!joined) this._setRemoteTyping(d.room_id, d.user_id, false);
    this._emitPresence(d.room_id);
  }

  _emitPresence(roomId) {
    const payload = { room_id: roomId, online_users: this.getOnline(roomId), mode: this._polling ? "recent" : "live" };
    if (this._polling) payload.recently_active = this.getRecentlyActive(roomId);
    this.emit("presence", payload);
  }

  _onRemoteTyping(d, on) {
    if (!d?.room_id || !d.user_id) return;
    if (d.user_id === this.user?.id) return;
    this._setRemoteTyping(d.room_id, d.user_id, on);
  }

  _setRemoteTyping(roomId, userId, on) {
    let map = this._remoteTyping.get(roomId);
    if (!map) {
      map = new Map();
      this._remoteTyping.set(roomId, map);
    }
    const had = map.has(userId);
    if (had) this._t.clearTimeout(map.get(userId));
    if (on) {
      // Expire locally too, in case the TypingStop is lost with the connection.
      map.set(userId, this._t.setTimeout(() => this._setRemoteTyping(roomId, userId, false), this.remoteTypingTtlMs));
      if (!had) this.emit("typingStart", { user_id: userId, room_id: roomId });
    } else if (had) {
      map.delete(userId);
      this.emit("typingStop", { user_id: userId, room_id: roomId });
    }
  }

  _clearRemoteTyping() {
    for (const [roomId, map] of this._remoteTyping) {
      for (const userId of [...map.keys()]) this._setRemoteTyping(roomId, userId, false);
    }
  }

  // ----- the outgoing queue --------------------------------------------------------------------

  _queueChanged() {
    this.emit("queue", { pending: this.getPending() });
  }

  _sendMode() {
    if (this.connected) return "socket";
    if (this._polling) return "http";
    return null;
  }

  /** Send queued messages one at a time, oldest first, each until acknowledged or refused. */
  async _pump() {
    if (this._pumping) return;
    this._pumping = true;
    this._t.clearTimeout(this._pumpTimer);
    this._pumpTimer = null;
    try {
      while (this.queue.length) {
        const mode = this._sendMode();
        if (!mode) break;
        const item = this.queue.head;
        let result;
        try {
          result = mode === "socket" ? await this._sendOverSocket(item) : await this._sendOverHttp(item);
        } catch (err) {
          result = { ok: false, retry: true, error: { code: err?.code || "send_failed", message: err?.message } };
        }
        if (!this.queue.get(item.client_message_id)) continue; // delivered meanwhile (broadcast came first)
        if (result.ok) {
          this.queue.remove(item.client_message_id);
          const tl = this._timelines.get(item.room_id);
          if (!(result.message_id && tl?.has(result.message_id))) {
            this._delivered.set(item.client_message_id, { ...item, message_id: result.message_id, seq: result.seq });
          }
          if (typeof result.seq === "number") this._bumpLastSeq(item.room_id, result.seq);
          this._queueChanged();
          continue;
        }
        if (!result.retry) {
          this.queue.remove(item.client_message_id);
          this._queueChanged();
          this.emit("messageFailed", { item, error: result.error });
          this.emit("error", { ...result.error, client_message_id: item.client_message_id, room_id: item.room_id });
          continue;
        }
        // Retry later: after retry_after, or on the next (re)connection, or after a short pause.
        const wait = result.retryAfterMs ?? (this._sendMode() ? 2000 : null);
        if (wait != null) this._pumpTimer = this._t.setTimeout(() => this._pump(), wait);
        if (result.error?.code === "rate_limit_exceeded") this.emit("error", { ...result.error, client_message_id: item.client_message_id });
        break;
      }
    } finally {
      this._pumping = false;
    }
  }

  async _sendOverSocket(item) {
    const env = await this._emitSocketAck("NewMessage", {
      room_id: item.room_id,
      content: item.content,
      client_message_id: item.client_message_id,
    });
    if (env?.type === "MessageDelivered") {
      return { ok: true, message_id: env.data?.message_id, seq: env.data?.seq };
    }
    const data = env?.data || {};
    const code = data.code || "internal_error";
    if (AUTH_CODES.has(code)) return { ok: false, retry: true, error: { code, message: data.error } };
    const error = { code, message: data.error || data.message || code, retry_after: data.retry_after };
    if (code === "rate_limit_exceeded") {
      return { ok: false, retry: true, retryAfterMs: Math.ceil((data.retry_after || 1) * 1000), error };
    }
    return { ok: false, retry: !PERMANENT_SEND_CODES.has(code), error };
  }

  async _sendOverHttp(item) {
    try {
      const data = await this._http("POST", `/api/rooms/${enc(item.room_id)}/messages`, {
        content: item.content,
        client_message_id: item.client_message_id,
      });
      const m = data?.message;
      if (m) this._ingest(item.room_id, m, "http");
      return { ok: true, message_id: m?.id, seq: m?.seq };
    } catch (err) {
      const error = { code: err.code, message: err.message, retry_after: err.retryAfter };
      if (err.status === 429) {
        return { ok: false, retry: true, retryAfterMs: Math.ceil((err.retryAfter || 1) * 1000), error };
      }
      if (err.status === 0 || err.status >= 500 || err.status === 401) return { ok: false, retry: true, error };
      return { ok: false, retry: !PERMANENT_SEND_CODES.has(err.code) && err.status !== 422 && err.status !== 400, error };
    }
  }

  // ----- HTTP polling fallback ---------------------------------------------------------------------

  _startPolling() {
    if (this._polling) return;
    this._log("socket unavailable, HTTP works: polling");
    this._polling = true;
    this._clearRemoteTyping();
    for (const [roomId] of this._myTyping) this._clearMyTyping(roomId);
    this._setState(STATES.POLLING, { interval_ms: this.pollIntervalMs });
    this._pollLoop();
  }

  _stopPolling() {
    if (!this._polling) return;
    this._polling = false;
    this._t.clearTimeout(this._pollTimer);
    this._pollTimer = null;
  }

  async _pollLoop() {
    if (!this._polling) return;
    try {
      await this._pollOnce();
    } catch (err) {
      this._log("poll failed", err?.message);
      if (err?.status === 0 && this._polling) {
        // HTTP is gone too: back to reconnecting with backoff.
        this._stopPolling();
        this._httpOkFailures = 0;
        if (this._started) this._scheduleReconnect(0, "http_unreachable");
        return;
      }
    }
    if (this._polling) this._pollTimer = this._t.setTimeout(() => this._pollLoop(), this.pollIntervalMs);
  }

  async _pollOnce() {
    const data = await this._http("GET", "/api/rooms");
    if (!this._polling) return;
    this._reconcileRooms(data?.rooms || [], this._readyOnce === true);
    this._readyOnce = true;
    for (const roomId of this.rooms.keys()) {
      const tl = this._timeline(roomId);
      for (let page = 0; page < 10; page++) {
        const params = new URLSearchParams({ limit: "200" });
        if (tl.cursor != null) params.set("after_seq", String(tl.cursor));
        else params.set("limit", String(this.historyPageSize));
        const res = await this._http("GET", `/api/rooms/${enc(roomId)}/messages?${params}`);
        const messages = res?.messages || [];
        this._ingestMany(roomId, messages, "poll");
        if (tl.cursor == null || messages.length < 200) break;
      }
    }
    if (this._activeRoomId && this.rooms.has(this._activeRoomId)) await this._pollPresence(this._activeRoomId);
    this._pump();
  }

  async _pollPresence(roomId) {
    const data = await this._http("GET", `/api/rooms/${enc(roomId)}/presence`);
    this._online.set(roomId, new Set(data?.online_users || []));
    this._recent.set(roomId, new Set(data?.recently_active || []));
    this._emitPresence(roomId);
  }
}

function enc(s) {
  return encodeURIComponent(s);
}

function ackError(env) {
  const d = env?.data || {};
  const err = new Error(d.message || d.error || "request failed");
  err.code = d.code || "internal_error";
  err.retryAfter = d.retry_after;
  return err;
}

export default CampfireClient;
