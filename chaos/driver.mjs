#!/usr/bin/env node
// The chaos harness's clients: many in one Node process, sending steadily while faults are
// injected around them, then reporting everything they acknowledged and displayed.
//
//   node chaos/driver.mjs CONFIG.json      (started by chaos/harness.py; commands on stdin)
//
// Two kinds of client:
//   - "campfire": the real CampfireClient from web/ over the real socket.io-client (its own
//     offline queue, cursors, gap filling and reconnect backoff);
//   - "raw": bench/loadgen's lean Socket.IO client with a minimal client of its own written
//     here to the protocol: an offline queue re-sent with the same client_message_id until
//     acknowledged, per-room cursors sent as last_seen on reconnect, gap filling over HTTP,
//     and a ping watchdog (a stalled socket is given up after the ping timeout).
//
// stdin commands (one JSON per line): {cmd: "stop"} stops sending; {cmd: "expect", last_seq,
// since, tag} starts watching convergence: every client holds seqs 1..last_seq of its rooms and has
// acknowledged everything it queued before `since` (ms epoch); {cmd: "bounce", fraction}
// drops that share of the raw sockets (they reconnect); {cmd: "report"} prints the final
// state and exits. stdout: one JSON object per line.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const webRequire = createRequire(path.join(here, "../web/package.json"));
const benchRequire = createRequire(path.join(here, "../bench/package.json"));
const { io } = webRequire("socket.io-client");
const { leanIo } = benchRequire("./loadgen/leanclient.js");
const { CampfireClient, MemoryStorage } = await import("../web/campfire-client.js");

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const now = () => Date.now();
let sending = true;

async function http(base, token, method, pathname, body) {
  const res = await fetch(base + pathname, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  return { status: res.status, data };
}

// ---- the raw client ---------------------------------------------------------------------

class RawClient {
  constructor(spec) {
    Object.assign(this, { spec, urls: spec.urls, token: spec.token, userId: spec.user_id });
    this.rooms = new Set(spec.rooms);
    this.seen = new Map(); // room -> Map(seq -> id)
    this.cursor = new Map(); // room -> highest seq held without a gap
    this.queue = []; // {client_message_id, room_id, content, queued_at}
    this.acked = [];
    this.failed = [];
    this.duplicatesShown = 0;
    this.connected = false;
    this.synced = false;
    this.urlIndex = 0;
    this.attempt = 0;
    this.inFlight = null;
    this.lastPacket = now();
    this.reconnects = 0;
    for (const r of this.rooms) {
      this.seen.set(r, new Map());
      this.cursor.set(r, 0);
    }
  }

  get base() {
    return this.urls[this.urlIndex % this.urls.length];
  }

  connect() {
    const lastSeen = Object.fromEntries(this.cursor);
    // A generous handshake timeout: on a loaded server a client that gives up after a few
    // seconds and retries only adds work (the server still answers the abandoned upgrade).
    const socket = leanIo(this.base, { auth: { token: this.token, last_seen: lastSeen }, timeout: config.connect_timeout_ms ?? 30000 });
    this.socket = socket;
    socket.ws.on("message", () => (this.lastPacket = now()));
    socket.on("connect", () => {
      this.connected = true;
      this.attempt = 0;
      this.lastPacket = now();
    });
    socket.on("connect_error", (err) => this.retry(socket, err?.data?.retry_after));
    socket.on("disconnect", () => this.retry(socket));
    socket.on("NewMessage", (d) => this.take(d.message, "live"));
    socket.on("SyncComplete", () => {
      this.synced = true;
      this.pump();
    });
    socket.on("RoomLeft", (d) => this.rooms.delete(d.room_id));
  }

  retry(socket, retryAfter) {
    if (socket !== this.socket || this.closed) return;
    this.connected = false;
    this.synced = false;
    this.socket = null;
    this.reconnects += 1;
    if (this.attempt > 0) this.urlIndex += 1; // another web process, if there is one
    // The server's retry_after (a refusal while it is overloaded or a dependency is down) is
    // a floor, as a real client honours it; jittered so that refused clients do not return
    // together.
    const backoff = Math.min(5000, 250 * 2 ** this.attempt);
    const delay = Math.max(backoff, (retryAfter || 0) * 1000) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    setTimeout(() => this.connect(), delay);
  }

  watchdog() {
    // Engine.IO pings every ping_interval; nothing for interval + timeout: the link is dead.
    if (this.socket && this.connected && now() - this.lastPacket > config.ping_deadline_ms) {
      this.socket.ws.terminate();
    }
  }

  take(message, source) {
    const seen = this.seen.get(message.room_id);
    if (!seen) return;
    if (seen.has(message.seq)) {
      if (seen.get(message.seq) !== message.id) this.conflicts = (this.conflicts || 0) + 1;
      return; // a duplicate: dropped by id (the same seq always carries the same id)
    }
    seen.set(message.seq, message.id);
    let c = this.cursor.get(message.room_id);
    while (seen.has(c + 1)) c += 1;
    this.cursor.set(message.room_id, c);
    if (source === "live" && message.seq > c + 1) this.scheduleFill(message.room_id, message.seq);
  }

  scheduleFill(roomId, highest) {
    // Like CampfireClient's gapFillDelayMs: with two web processes publishing into one room,
    // messages often arrive a little out of order; fill over HTTP only a gap that stays.
    if (this.fillTimer?.has(roomId)) return;
    (this.fillTimer ||= new Set()).add(roomId);
    setTimeout(() => {
      this.fillTimer.delete(roomId);
      if (this.cursor.get(roomId) < highest) this.fill(roomId);
    }, config.gap_fill_delay_ms ?? 1000);
  }

  async fill(roomId) {
    if (this.filling?.has(roomId)) return;
    (this.filling ||= new Set()).add(roomId);
    try {
      for (let page = 0; page < 20; page++) {
        const after = this.cursor.get(roomId);
        const { status, data } = await http(this.base, this.token, "GET", `/api/rooms/${roomId}/messages?after_seq=${after}&limit=200`);
        if (status !== 200 || !data.messages.length) break;
        for (const m of data.messages) this.take(m, "http");
        if (this.cursor.get(roomId) === after) break;
      }
    } catch {
      // retried on the next gap or reconnect
    } finally {
      this.filling.delete(roomId);
    }
  }

  send(roomId, content) {
    this.queue.push({ client_message_id: randomUUID(), room_id: roomId, content, queued_at: now() });
    this.pump();
  }

  pump() {
    if (this.inFlight || !this.queue.length || !this.connected || !this.synced) return;
    const item = this.queue[0];
    const socket = this.socket;
    let done = false;
    const finish = (retryMs) => {
      if (done) return;
      done = true;
      this.inFlight = null;
      if (retryMs != null) setTimeout(() => this.pump(), retryMs);
      else this.pump();
    };
    this.inFlight = item;
    const timer = setTimeout(() => finish(500), config.ack_timeout_ms);
    socket.emit("NewMessage", { room_id: item.room_id, content: item.content, client_message_id: item.client_message_id }, (env) => {
      clearTimeout(timer);
      if (env?.type === "MessageDelivered") {
        this.queue = this.queue.filter((q) => q !== item);
        this.acked.push({ ...item, message_id: env.data.message_id, seq: env.data.seq, acked_at: now() });
        finish();
      } else if (["server_overloaded", "rate_limit_exceeded", "internal_error"].includes(env?.data?.code)) {
        finish(Math.ceil((env.data.retry_after || 1) * 1000));
      } else {
        this.queue = this.queue.filter((q) => q !== item);
        this.failed.push({ ...item, error: env?.data });
        finish();
      }
    });
  }

  holds(roomId, lastSeq) {
    return !this.rooms.has(roomId) || this.cursor.get(roomId) >= lastSeq;
  }

  report() {
    const rooms = {};
    for (const r of this.rooms) rooms[r] = [...this.seen.get(r).entries()].sort((a, b) => a[0] - b[0]).map(([seq, id]) => [seq, id]);
    return {
      kind: "raw",
      user_id: this.userId,
      acked: this.acked,
      failed: this.failed,
      pending: this.queue,
      rooms,
      conflicts: this.conflicts || 0,
      reconnects: this.reconnects,
    };
  }
}

// ---- the real CampfireClient -------------------------------------------------------------

class LibraryClient {
  constructor(spec) {
    this.spec = spec;
    this.userId = spec.user_id;
    this.rooms = new Set(spec.rooms);
    this.acked = [];
    this.failed = [];
    this.mine = new Map(); // client_message_id -> queued item
    this.client = new CampfireClient({
      baseUrl: spec.urls[0],
      token: spec.token,
      userId: spec.user_id,
      io,
      storage: new MemoryStorage(),
      // Never give up, and retry within seconds: the harness measures convergence.
      maxReconnectAttempts: 1000,
      backoffMaxMs: 5000,
      gapFillDelayMs: config.gap_fill_delay_ms ?? 250,
    });
    this.client.on("messageFailed", ({ item, error }) => this.failed.push({ ...item, error }));
    this.client.on("roomLeft", ({ room_id }) => this.rooms.delete(room_id));
    this.reconnects = 0;
    this.client.on("connectionState", ({ state }) => {
      if (state === "reconnecting") this.reconnects += 1;
    });
  }

  get synced() {
    return this.client.state === "connected";
  }

  connect() {
    this.client.connect().catch(() => {});
  }

  watchdog() {}

  send(roomId, content) {
    const item = this.client.sendMessage(roomId, content);
    this.mine.set(item.client_message_id, { ...item, queued_at: now() });
  }

  get queue() {
    const pending = new Set(this.client.getPending().map((p) => p.client_message_id));
    return [...this.mine.values()].filter((i) => pending.has(i.client_message_id));
  }

  holds(roomId, lastSeq) {
    return !this.rooms.has(roomId) || (this.client.getCursor(roomId) ?? 0) >= lastSeq;
  }

  report() {
    const rooms = {};
    const byCmid = new Map();
    for (const r of this.rooms) {
      const shown = this.client.getMessages(r);
      rooms[r] = shown.map((m) => [m.seq, m.id]);
      for (const m of shown) if (m.creator_id === this.userId) byCmid.set(m.client_message_id, m);
    }
    const pending = this.queue;
    const waiting = new Set(pending.map((p) => p.client_message_id));
    const failed = new Set(this.failed.map((f) => f.client_message_id));
    for (const item of this.mine.values()) {
      if (waiting.has(item.client_message_id) || failed.has(item.client_message_id)) continue;
      const m = byCmid.get(item.client_message_id);
      // Left the queue without a refusal: the library had its MessageDelivered (or its resend
      // was answered with the first message).
      this.acked.push({ ...item, message_id: m?.id ?? null, seq: m?.seq ?? null });
    }
    return { kind: "campfire", user_id: this.userId, acked: this.acked, failed: this.failed, pending, rooms, conflicts: 0, reconnects: this.reconnects };
  }
}

// ---- the run -----------------------------------------------------------------------------

const clients = config.clients.map((spec) => (spec.kind === "campfire" ? new LibraryClient(spec) : new RawClient(spec)));
let counter = 0;
for (const [i, c] of clients.entries()) setTimeout(() => c.connect(), (i * config.connect_spread_ms) / clients.length);

const allSynced = setInterval(() => {
  const ready = clients.filter((c) => c.synced).length;
  if (ready === clients.length) {
    clearInterval(allSynced);
    out({ event: "synced", clients: ready });
  }
}, 100);

// Steady sending: each client every send_interval_ms (jittered), to one of its rooms.
const sender = setInterval(() => {
  if (!sending) return;
  for (const c of clients) {
    if (Math.random() * config.send_interval_ms >= config.tick_ms) continue;
    const rooms = [...c.rooms];
    if (!rooms.length) continue;
    counter += 1;
    c.send(rooms[counter % rooms.length], `m${counter} from ${c.userId.slice(0, 8)}`);
  }
}, config.tick_ms);
const dog = setInterval(() => clients.forEach((c) => c.watchdog()), 500);

// Soak extras (chaos/soak.py): typing, joining and leaving open rooms, reconnects.
const extras = config.extras;
if (extras) {
  setInterval(() => {
    if (!sending) return;
    for (const c of clients) {
      if (!(c instanceof RawClient) || !c.socket || !c.synced) continue;
      const r = Math.random();
      if (r < extras.typing_per_second) {
        const rooms = [...c.rooms];
        if (rooms.length) c.socket.emit("TypingStart", { room_id: rooms[Math.floor(Math.random() * rooms.length)] });
      } else if (r < extras.typing_per_second + extras.join_leave_per_second && extras.open_rooms.length) {
        const room = extras.open_rooms[Math.floor(Math.random() * extras.open_rooms.length)];
        c.joined ||= new Set();
        const event = c.joined.has(room) ? "LeaveRoom" : "JoinRoom";
        c.socket.emit(event, { room_id: room }, (env) => {
          if (env?.type === "RoomJoined") c.joined.add(room);
          else if (env?.type === "RoomLeft") c.joined.delete(room);
        });
      } else if (r < extras.typing_per_second + extras.join_leave_per_second + extras.reconnect_per_second) {
        c.socket.ws.terminate();
      }
    }
  }, 1000);
}

let watch = null;
function expect({ last_seq, since, tag }) {
  const started = now();
  if (watch) clearInterval(watch);
  watch = setInterval(() => {
    const behind = clients.filter(
      (c) => Object.entries(last_seq).some(([room, seq]) => !c.holds(room, seq)) || c.queue.some((q) => q.queued_at <= since),
    );
    if (!behind.length) {
      clearInterval(watch);
      out({ event: `converged:${tag}`, ms: now() - since, watched_ms: now() - started });
    }
  }, 100);
}

function report() {
  clearInterval(sender);
  clearInterval(dog);
  if (watch) clearInterval(watch);
  // A pipe's write is asynchronous: exit only once the (long) line is out.
  process.stdout.write(JSON.stringify({ event: "report", clients: clients.map((c) => c.report()) }) + "\n", () => process.exit(0));
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const msg = JSON.parse(line);
  if (msg.cmd === "stop") {
    sending = false;
    const wait = setInterval(() => {
      const pending = clients.reduce((n, c) => n + c.queue.length, 0);
      if (!pending) {
        clearInterval(wait);
        out({ event: "drained" });
      }
    }, 100);
  } else if (msg.cmd === "expect") expect(msg);
  else if (msg.cmd === "bounce") {
    for (const c of clients) if (c instanceof RawClient && c.socket && Math.random() < msg.fraction) c.socket.ws.terminate();
  } else if (msg.cmd === "report") report();
});
