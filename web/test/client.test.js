// Unit tests of CampfireClient against a scripted socket (fakes.js) and a fake clock.
import { test } from "node:test";
import assert from "node:assert/strict";

import { CampfireClient, MemoryStorage } from "../campfire-client.js";
import { FakeClock, fakeFetch, fakeIo, flush, msg, networkDown, ROOM, ROOM2 } from "./fakes.js";

const EVENTS = [
  "message", "typingStart", "typingStop", "presence", "roomJoined", "roomLeft", "roomUpdated",
  "connectionState", "error", "ready", "synced", "queue", "messageFailed",
];

function setup({ storage = new MemoryStorage(), routes = networkDown, random = () => 0, ...opts } = {}) {
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
async function online(t, { rooms = [ROOM], replay = [], last = {} } = {}) {
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

test("connects with reconnection disabled and the token in the auth payload", async () => {
  const t = setup();
  await t.client.connect();
  const s = t.io.last;
  assert.equal(s.url, "http://campfire.test");
  assert.equal(s.opts.reconnection, false);
  assert.deepEqual(s.opts.transports, ["websocket"]);
  assert.deepEqual(s.authPayload(), { token: "tok" });
  assert.equal(t.client.state, "connecting");
  s.accept({ rooms: [ROOM] });
  assert.equal(t.client.state, "syncing");
  assert.equal(t.of("ready")[0].user.id, "me");
  s.serverEmit("SyncComplete", { rooms: [{ room_id: "r1", last_seq: 0 }], missed_count: 0, truncated: false });
  assert.equal(t.client.state, "connected");
  assert.deepEqual(t.states(), ["connecting", "syncing", "connected"]);
});

test("reconnects with exponential backoff, 10 attempts, then offline until retry()", async () => {
  const t = setup({ random: () => 0 }); // no jitter drawn: exact delays
  await t.client.connect();
  const s = t.io.last;
  const delays = [];
  for (let i = 0; i < 10; i++) {
    s.refuse(undefined, "xhr poll error"); // server down: HTTP probe fails too
    await flush();
    assert.equal(t.client.state, "reconnecting", `after failure ${i + 1}`);
    delays.push(t.client.stateInfo.delay_ms);
    const before = s.connectCalls;
    await t.clock.advance(t.client.stateInfo.delay_ms - 1);
    assert.equal(s.connectCalls, before, "no attempt before the delay is over");
    await t.clock.advance(1);
    assert.equal(s.connectCalls, before + 1);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]);
  s.refuse(undefined, "xhr poll error");
  await flush();
  assert.equal(t.client.state, "offline");
  assert.deepEqual(t.clock.pending(), [], "nothing scheduled while offline");
  const calls = s.connectCalls;
  t.client.retry();
  assert.equal(s.connectCalls, calls + 1);
  assert.equal(t.client.state, "connecting");
  s.accept({ rooms: [ROOM] });
  assert.equal(t.client.state, "syncing");
});

test("reconnect delays are jittered", async () => {
  const t = setup({ random: () => 0.5 });
  await t.client.connect();
  t.io.last.refuse(undefined, "down");
  await flush();
  assert.equal(t.client.stateInfo.delay_ms, 750);
});

test("after a drop the backoff starts again at 1 s and retry_after is honoured", async () => {
  const t = setup();
  const s = await online(t);
  s.drop("transport close");
  assert.equal(t.client.state, "reconnecting");
  assert.equal(t.client.stateInfo.delay_ms, 1000);
  await t.clock.advance(1000);
  s.refuse({ code: "rate_limit_exceeded", message: "slow down", retry_after: 12 });
  await flush();
  assert.equal(t.client.stateInfo.delay_ms, 12000);
  assert.equal(t.of("error").at(-1).code, "rate_limit_exceeded");
});

test("auth failure stops reconnecting", async () => {
  const t = setup();
  await t.client.connect();
  t.io.last.refuse({ code: "auth_failed", message: "bad token" });
  await flush();
  assert.equal(t.client.state, "unauthorized");
  assert.deepEqual(t.clock.pending(), []);
  assert.equal(t.of("error")[0].code, "auth_failed");
});

test("session revoked (logout elsewhere) stops reconnecting", async () => {
  const t = setup();
  const s = await online(t);
  s.serverEmit("Disconnect", { reason: "session_revoked" });
  s.drop("io server disconnect");
  assert.equal(t.client.state, "unauthorized");
  assert.deepEqual(t.clock.pending(), []);
});

test("resume cursors are persisted and sent as last_seen on every (re)connect", async () => {
  const storage = new MemoryStorage();
  storage.setItem("campfire:me:last_seen", JSON.stringify({ r1: 4 }));
  const t = setup({ storage });
  await t.client.connect();
  const s = t.io.last;
  assert.deepEqual(s.authPayload(), { token: "tok", last_seen: { r1: 4 } });
  s.accept({ rooms: [ROOM, ROOM2] });
  s.serverEmit("NewMessage", { message: msg("r1", 5), room_id: "r1" });
  s.serverEmit("NewMessage", { message: msg("r2", 1), room_id: "r2" });
  s.serverEmit("SyncComplete", { rooms: [{ room_id: "r1", last_seq: 5 }, { room_id: "r2", last_seq: 1 }], missed_count: 2, truncated: false });
  s.serverEmit("NewMessage", { message: msg("r1", 6), room_id: "r1" });
  assert.deepEqual(JSON.parse(storage.getItem("campfire:me:last_seen")), { r1: 6, r2: 1 });
  s.drop();
  await t.clock.advance(1000);
  assert.deepEqual(s.authPayload(), { token: "tok", last_seen: { r1: 6, r2: 1 } });
  // A reload: a new client on the same storage resumes from the same cursors.
  const t2 = setup({ storage });
  await t2.client.connect();
  assert.deepEqual(t2.io.last.authPayload(), { token: "tok", last_seen: { r1: 6, r2: 1 } });
});

test("leaving a room drops its cursor", async () => {
  const storage = new MemoryStorage();
  const t = setup({ storage });
  const s = await online(t, { rooms: [ROOM, ROOM2], replay: [msg("r1", 1), msg("r2", 1)] });
  s.serverEmit("RoomLeft", { room_id: "r2" });
  assert.deepEqual(t.of("roomLeft"), [{ room_id: "r2" }]);
  assert.deepEqual(JSON.parse(storage.getItem("campfire:me:last_seen")), { r1: 1 });
  assert.deepEqual(s.authPayload().last_seen, { r1: 1 });
});

test("replayed and live copies of a message are delivered once", async () => {
  const t = setup();
  await t.client.connect();
  const s = t.io.last;
  s.accept({ rooms: [ROOM] });
  const m1 = msg("r1", 1);
  const m2 = msg("r1", 2);
  s.serverEmit("NewMessage", { message: m1, room_id: "r1" });
  s.serverEmit("NewMessage", { message: m2, room_id: "r1" }); // live, interleaved with the replay
  s.serverEmit("NewMessage", { message: { ...m2 }, room_id: "r1" }); // replayed copy
  s.serverEmit("SyncComplete", { rooms: [{ room_id: "r1", last_seq: 2 }], missed_count: 2, truncated: false });
  s.serverEmit("NewMessage", { message: { ...m1 }, room_id: "r1" });
  assert.deepEqual(t.of("message").map((e) => e.message.seq), [1, 2]);
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.id), [m1.id, m2.id]);
});

test("a seq gap is filled over HTTP and messages come out in order", async () => {
  const store = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => msg("r1", n));
  const t = setup({
    routes: (method, path) => {
      const m = path.match(/^\/api\/rooms\/r1\/messages\?after_seq=(\d+)/);
      if (method === "GET" && m) return { body: { messages: store.filter((x) => x.seq > Number(m[1])) } };
      if (path === "/api/me") return { body: { user: { id: "me" } } };
      return undefined;
    },
  });
  const s = await online(t, { replay: store.slice(0, 5), last: { r1: 5 } });
  assert.equal(t.client.getCursor("r1"), 5);
  s.serverEmit("NewMessage", { message: store[7], room_id: "r1" }); // seq 8 after 5
  assert.deepEqual(t.of("message").map((e) => e.message.seq), [1, 2, 3, 4, 5], "8 is held");
  await t.clock.advance(t.client.gapFillDelayMs);
  const gets = t.fetch.calls.filter((c) => c.path.startsWith("/api/rooms/r1/messages"));
  assert.equal(gets.length, 1);
  assert.match(gets[0].path, /after_seq=5/);
  assert.deepEqual(t.of("message").map((e) => e.message.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(t.of("message").slice(5).map((e) => e.source), ["http", "http", "live"]);
  assert.equal(t.client.getCursor("r1"), 8);
});

test("a gap closed by the late message itself needs no fetch", async () => {
  const t = setup();
  const s = await online(t, { replay: [msg("r1", 1)], last: { r1: 1 } });
  s.serverEmit("NewMessage", { message: msg("r1", 3), room_id: "r1" });
  s.serverEmit("NewMessage", { message: msg("r1", 2), room_id: "r1" });
  await t.clock.advance(1000);
  assert.equal(t.fetch.calls.length, 0);
  assert.deepEqual(t.of("message").map((e) => e.message.seq), [1, 2, 3]);
});

test("SyncComplete with a last_seq beyond the replay (truncated) pages the rest over HTTP", async () => {
  const store = Array.from({ length: 8 }, (_, i) => msg("r1", i + 1));
  const t = setup({
    routes: (method, path) => {
      const m = path.match(/after_seq=(\d+)/);
      if (m) return { body: { messages: store.filter((x) => x.seq > Number(m[1])).slice(0, 2) } };
      return undefined;
    },
  });
  await online(t, { replay: store.slice(0, 3), last: { r1: 8 } });
  await flush(20);
  assert.deepEqual(t.of("message").map((e) => e.message.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
  const pages = t.fetch.calls.map((c) => c.path.match(/after_seq=(\d+)/)[1]);
  assert.deepEqual(pages, ["3", "5", "7"]);
});

test("messages written offline are queued in storage and sent once on reconnect with their id", async () => {
  const storage = new MemoryStorage();
  const t = setup({ storage });
  await t.client.connect();
  t.io.last.refuse(undefined, "down");
  await flush();
  const a = t.client.sendMessage("r1", "written offline 1");
  const b = t.client.sendMessage("r1", "written offline 2");
  assert.deepEqual(t.client.getPending("r1").map((p) => [p.content, p.status]), [
    ["written offline 1", "queued"],
    ["written offline 2", "queued"],
  ]);
  assert.equal(JSON.parse(storage.getItem("campfire:me:queue")).length, 2);
  assert.equal(t.io.last.sentOf("NewMessage").length, 0);

  // The page is reloaded before the network is back: a new client on the same storage.
  t.client.close();
  const t2 = setup({ storage });
  assert.equal(t2.client.getPending().length, 2);
  await t2.client.connect();
  const s = t2.io.last;
  s.accept({ rooms: [ROOM] });
  await flush();
  let sends = s.sentOf("NewMessage");
  assert.equal(sends.length, 1, "one at a time, in order");
  assert.deepEqual(sends[0].data, { room_id: "r1", content: "written offline 1", client_message_id: a.client_message_id });
  sends[0].reply({ type: "MessageDelivered", data: { client_message_id: a.client_message_id, message_id: "m-a", seq: 1 } });
  await flush();
  sends = s.sentOf("NewMessage");
  assert.equal(sends.length, 2);
  assert.equal(sends[1].data.client_message_id, b.client_message_id);
  assert.deepEqual(t2.client.getPending("r1").map((p) => p.status), ["queued", "sent"]);
  // The broadcast of the second arrives before its ack.
  s.serverEmit("NewMessage", { message: msg("r1", 1, { id: "m-a", creator_id: "me", client_message_id: a.client_message_id, content: a.content }), room_id: "r1" });
  s.serverEmit("NewMessage", { message: msg("r1", 2, { id: "m-b", creator_id: "me", client_message_id: b.client_message_id, content: b.content }), room_id: "r1" });
  sends[1].reply({ type: "MessageDelivered", data: { client_message_id: b.client_message_id, message_id: "m-b", seq: 2 } });
  await flush();
  assert.deepEqual(t2.client.getPending(), []);
  assert.equal(storage.getItem("campfire:me:queue"), null);
  assert.equal(s.sentOf("NewMessage").length, 2, "nothing sent twice");
});

test("a send cut by a disconnect is re-sent with the same client_message_id", async () => {
  const t = setup();
  const s = await online(t);
  const item = t.client.sendMessage("r1", "hello");
  assert.equal(s.sentOf("NewMessage").length, 1);
  s.drop(); // the ack never comes
  await flush();
  assert.equal(t.client.getPending("r1")[0].status, "queued");
  await t.clock.advance(1000);
  s.accept({ rooms: [ROOM] });
  await flush();
  const sends = s.sentOf("NewMessage");
  assert.equal(sends.length, 2);
  assert.equal(sends[1].data.client_message_id, item.client_message_id);
  // The server is idempotent: it acknowledges with the first message's id and seq.
  sends[1].reply({ type: "MessageDelivered", data: { client_message_id: item.client_message_id, message_id: "m1", seq: 1 } });
  await flush();
  assert.deepEqual(t.client.getPending("r1").map((p) => p.status), ["sent"]);
});

test("a refused message leaves the queue; a rate-limited one waits retry_after", async () => {
  const t = setup();
  const s = await online(t);
  const bad = t.client.sendMessage("r1", "x");
  s.sentOf("NewMessage")[0].reply({ type: "MessageError", data: { client_message_id: bad.client_message_id, error: "no", code: "room_access_denied" } });
  await flush();
  assert.equal(t.client.getPending().length, 0);
  assert.equal(t.of("messageFailed")[0].error.code, "room_access_denied");

  const slow = t.client.sendMessage("r1", "y");
  s.sentOf("NewMessage")[1].reply({ type: "MessageError", data: { client_message_id: slow.client_message_id, error: "slow", code: "rate_limit_exceeded", retry_after: 3 } });
  await flush();
  assert.equal(t.client.getPending().length, 1);
  await t.clock.advance(2999);
  assert.equal(s.sentOf("NewMessage").length, 2);
  await t.clock.advance(1);
  assert.equal(s.sentOf("NewMessage").length, 3);
  assert.equal(s.sentOf("NewMessage")[2].data.client_message_id, slow.client_message_id);
});

test("typing: at most one TypingStart per 3 s, TypingStop after 5 s idle or on send", async () => {
  const t = setup();
  const s = await online(t);
  const typed = () => s.sent.filter((r) => r.event.startsWith("Typing")).map((r) => `${r.event}@${t.clock.now() - start}`);
  const start = t.clock.now();
  for (let i = 0; i < 10; i++) {
    t.client.typing("r1"); // a keystroke every 500 ms for 5 s
    await t.clock.advance(500);
  }
  const starts = s.sentOf("TypingStart");
  assert.equal(starts.length, 2, typed().join(" "));
  assert.equal(s.sentOf("TypingStop").length, 0);
  await t.clock.advance(4499);
  assert.equal(s.sentOf("TypingStop").length, 0);
  await t.clock.advance(1);
  assert.equal(s.sentOf("TypingStop").length, 1, "stop after 5 s idle");
  t.client.typing("r1");
  assert.equal(s.sentOf("TypingStart").length, 3, "a new burst starts at once");
  t.client.sendMessage("r1", "done");
  assert.equal(s.sentOf("TypingStop").length, 2, "stop on send");
  await t.clock.advance(10000);
  assert.equal(s.sentOf("TypingStop").length, 2);
});

test("typing pauses when the server says its rate is exceeded", async () => {
  const t = setup();
  const s = await online(t);
  t.client.typing("r1");
  assert.equal(s.sentOf("TypingStart").length, 1);
  s.serverEmit("Error", { code: "rate_limit_exceeded", message: "typing too fast", retry_after: 20 });
  for (let i = 0; i < 38; i++) {
    await t.clock.advance(500);
    t.client.typing("r1");
  }
  assert.equal(s.sentOf("TypingStart").length, 1, "nothing during retry_after");
  await t.clock.advance(1500);
  t.client.typing("r1");
  assert.equal(s.sentOf("TypingStart").length, 2);
});

test("typing from others comes out as events and expires", async () => {
  const t = setup();
  const s = await online(t);
  s.serverEmit("TypingStart", { user_id: "u-other", room_id: "r1" });
  s.serverEmit("TypingStart", { user_id: "u-other", room_id: "r1" });
  assert.deepEqual(t.of("typingStart"), [{ user_id: "u-other", room_id: "r1" }]);
  assert.deepEqual(t.client.getTyping("r1"), ["u-other"]);
  s.serverEmit("TypingStop", { user_id: "u-other", room_id: "r1" });
  assert.deepEqual(t.client.getTyping("r1"), []);
  s.serverEmit("TypingStart", { user_id: "u-other", room_id: "r1" });
  await t.clock.advance(t.client.remoteTypingTtlMs);
  assert.deepEqual(t.client.getTyping("r1"), []);
  assert.equal(t.of("typingStop").length, 2);
  s.serverEmit("TypingStart", { user_id: "u-other", room_id: "r1" });
  s.serverEmit("NewMessage", { message: msg("r1", 1, { creator_id: "u-other" }), room_id: "r1" });
  assert.deepEqual(t.client.getTyping("r1"), [], "a message ends its author's typing");
});

test("presence: PresenceUpdate, UserJoined, UserLeft", async () => {
  const t = setup();
  const s = await online(t);
  s.serverEmit("PresenceUpdate", { room_id: "r1", online_users: ["me"] });
  s.serverEmit("UserJoined", { room_id: "r1", user_id: "u-other" });
  assert.deepEqual(t.client.getOnline("r1").sort(), ["me", "u-other"]);
  s.serverEmit("UserLeft", { room_id: "r1", user_id: "u-other" });
  assert.deepEqual(t.client.getOnline("r1"), ["me"]);
  assert.equal(t.of("presence").length, 3);
  assert.equal(t.of("presence")[0].mode, "live");
  s.drop();
  assert.deepEqual(t.client.getOnline("r1"), [], "unknown while disconnected");
  assert.deepEqual(t.of("presence").at(-1).online_users, []);
});

test("rooms: joined, updated and left come out as events", async () => {
  const t = setup();
  const s = await online(t);
  s.serverEmit("RoomJoined", { room: ROOM2 });
  s.serverEmit("RoomUpdated", { room: { ...ROOM2, name: "renamed" } });
  assert.equal(t.client.getRoom("r2").name, "renamed");
  s.serverEmit("RoomLeft", { room_id: "r2" });
  assert.equal(t.client.getRoom("r2"), null);
  assert.deepEqual(t.of("roomJoined").map((e) => e.room.id), ["r2"]);
  assert.deepEqual(t.of("roomUpdated").map((e) => e.room.name), ["renamed"]);
  assert.deepEqual(t.of("roomLeft"), [{ room_id: "r2" }]);
});

test("HTTP polling when the socket cannot connect but HTTP works", async () => {
  const store = [msg("r1", 1), msg("r1", 2)];
  const posted = [];
  const t = setup({
    routes: (method, path, body) => {
      if (path === "/api/me") return { body: { user: { id: "me" } } };
      if (path === "/api/rooms") return { body: { rooms: [ROOM] } };
      if (method === "GET" && path.startsWith("/api/rooms/r1/messages")) {
        const after = Number((path.match(/after_seq=(\d+)/) || [0, 0])[1]);
        return { body: { messages: store.filter((m) => m.seq > after) } };
      }
      if (method === "POST" && path === "/api/rooms/r1/messages") {
        posted.push(body);
        const m = msg("r1", store.length + 1, { creator_id: "me", content: body.content, client_message_id: body.client_message_id });
        store.push(m);
        return { status: 201, body: { message: m } };
      }
      if (path === "/api/rooms/r1/presence") return { body: { online_users: ["me"], recently_active: ["me", "u-other"] } };
      return undefined;
    },
  });
  await t.client.connect();
  const s = t.io.last;
  t.client.setActiveRoom("r1");
  s.refuse(undefined, "websocket error");
  await flush();
  assert.equal(t.client.state, "reconnecting", "one failure is not enough");
  await t.clock.advance(t.client.stateInfo.delay_ms);
  s.refuse(undefined, "websocket error");
  await flush(20);
  assert.equal(t.client.state, "polling");
  const calls = s.connectCalls;
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.seq), [1, 2]);
  const presence = t.of("presence").at(-1);
  assert.equal(presence.mode, "recent");
  assert.deepEqual(presence.recently_active, ["me", "u-other"]);

  // Sends go over HTTP with their client_message_id; typing is off.
  const item = t.client.sendMessage("r1", "via http");
  await flush(20);
  assert.deepEqual(posted, [{ content: "via http", client_message_id: item.client_message_id }]);
  assert.deepEqual(t.client.getPending(), []);
  t.client.typing("r1");
  assert.equal(s.sentOf("TypingStart").length, 0);

  // Another user's message shows up at the next poll.
  store.push(msg("r1", 4));
  await t.clock.advance(t.client.pollIntervalMs);
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.seq), [1, 2, 3, 4]);

  // The socket is tried again in the background; when it connects, polling stops.
  await t.clock.advance(30000);
  assert.ok(s.connectCalls > calls);
  s.accept({ rooms: [ROOM] });
  assert.equal(t.client.state, "syncing");
  assert.equal(t.client.polling, false);
});

test("debug logging is switched on by localStorage.campfire_debug = 'websocket'", async () => {
  const storage = new MemoryStorage();
  storage.setItem("campfire_debug", "websocket");
  const t = setup({ storage });
  assert.equal(t.client.debug, true);
  const logged = [];
  const orig = console.debug;
  console.debug = (...a) => logged.push(a.join(" "));
  try {
    await t.client.connect();
    t.io.last.accept({ rooms: [ROOM] });
  } finally {
    console.debug = orig;
  }
  assert.ok(logged.some((l) => l.includes("[campfire]") && l.includes("syncing")));
  assert.equal(setup().client.debug, false);
});
