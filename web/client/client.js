// CampfireClient, the public facade. Its methods live in one module per concern (see
// web/README.md); this file holds the options, the state they all share, and the composition:
// every class in CONCERNS lends its methods (and getters) to CampfireClient.prototype, and its
// `static socketEvents = {EventName(data) {...}}` handlers are bound to each new socket.
//
// To add a concern (e.g. per-message state in `messages.js`): write `export class Messages {...}`
// there, with `this` being the client, and add it to CONCERNS. A method name defined twice is an
// error at load time, so two concerns cannot silently replace each other's methods.

import { DEFAULT_IO_URL, STATES } from "./constants.js";
import { Connection } from "./connection.js";
import { Files } from "./files.js";
import { HttpMethods, defaultBaseUrl } from "./http.js";
import { Messages } from "./messages.js";
import { OfflineQueue, Outbox } from "./outbox.js";
import { People } from "./people.js";
import { Polling } from "./polling.js";
import { Presence } from "./presence.js";
import { ReadState } from "./readstate.js";
import { Rooms } from "./rooms.js";
import { Sync } from "./sync.js";
import { Emitter, defaultStorage, realTimers } from "./util.js";

const CONCERNS = [
  Connection, Sync, Outbox, Presence, Rooms, Polling, HttpMethods, Messages, Files, ReadState, People,
];

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
    // New typing bursts per rolling minute: the server's budget (PROTOCOL.md: 10); refreshes of a
    // burst going on are not counted by the server when paced like this client's.
    this.typingStartsPerMinute = options.typingStartsPerMinute ?? 10;
    this.typingIdleMs = options.typingIdleMs ?? 5000;
    this.remoteTypingTtlMs = options.remoteTypingTtlMs ?? 8000;
    this.historyPageSize = options.historyPageSize ?? 50;
    // A room too big for live presence (PresenceUpdate `live: false`) gets no UserJoined/UserLeft:
    // while it is the active room its presence is fetched again this often (docs/protocol-notes.md).
    this.presenceRefreshMs = options.presenceRefreshMs ?? 60000;

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
    // Per-message changes (messages.js): rev cursors, like the seq cursors above.
    this._revKey = `${ns}:last_rev`;
    this._storedRevs = this._loadRevs();
    this._revCursors = new Map(); // room id -> rev up to which every change was seen
    this._revSeen = new Map(); // room id -> Set(revs seen above the cursor)
    this._revTimers = new Map();
    this._revFetching = new Set();
    this._online = new Map(); // room id -> Set(user id)
    this._recent = new Map(); // room id -> Set(user id), polling mode
    this._presenceOnRequest = new Set(); // room ids whose presence is not pushed (big rooms)
    this._presenceTimer = null;
    this._remoteTyping = new Map(); // room id -> Map(user id -> timer)
    this._myTyping = new Map(); // room id -> {started, idleTimer, startTimer}
    this._lastTypingStart = -Infinity; // when this client last sent TypingStart (any room)
    this._typingBurstStarts = []; // when each new burst of the last minute was announced
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

  _log(...args) {
    if (this.debug) console.debug("[campfire]", ...args);
  }
}

compose(CampfireClient, CONCERNS);

/** Copy each concern's methods and accessors onto `target.prototype`; collect socket handlers. */
export function compose(target, concerns) {
  const proto = target.prototype;
  const owner = new Map(Object.getOwnPropertyNames(proto).map((name) => [name, target.name]));
  const socketEvents = { ...(proto._socketEvents || {}) };
  for (const concern of concerns) {
    for (const [name, desc] of Object.entries(Object.getOwnPropertyDescriptors(concern.prototype))) {
      if (name === "constructor") continue;
      if (owner.has(name)) throw new Error(`CampfireClient: ${concern.name}.${name} is also defined by ${owner.get(name)}`);
      owner.set(name, concern.name);
      Object.defineProperty(proto, name, desc);
    }
    for (const [event, handler] of Object.entries(concern.socketEvents || {})) {
      if (socketEvents[event]) throw new Error(`CampfireClient: socket event ${event} is handled twice`);
      socketEvents[event] = handler;
    }
  }
  Object.defineProperty(proto, "_socketEvents", { value: Object.freeze(socketEvents), configurable: true });
}
