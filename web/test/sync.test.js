// Unit tests of client/sync.js: resume cursors, de-duplication, gap filling, truncated replays.
import { test } from "node:test";
import assert from "node:assert/strict";

import { flush, MemoryStorage, msg, online, ROOM, ROOM2, setup } from "./fakes.js";

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

test("a room without a cursor starts at AuthSuccess's last_seq: a message never delivered live is fetched", async () => {
  const store = [1, 2, 3, 4, 5].map((n) => msg("r1", n));
  const t = setup({
    routes: (method, path) => {
      const m = path.match(/^\/api\/rooms\/r1\/messages\?after_seq=(\d+)/);
      if (method === "GET" && m) return { body: { messages: store.filter((x) => x.seq > Number(m[1])) } };
      return undefined;
    },
  });
  const s = await online(t, { rooms: [{ ...ROOM, last_seq: 3 }], last: { r1: 3 } });
  assert.equal(t.client.getCursor("r1"), 3);
  // Seq 4 was published before this socket was in the room; 5 arrives live.
  s.serverEmit("NewMessage", { message: store[4], room_id: "r1" });
  await t.clock.advance(t.client.gapFillDelayMs);
  await flush();
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.seq), [4, 5]);
  assert.equal(t.client.getCursor("r1"), 5);
});

test("a hole below the cursor (a gap given up on) is fetched at the next sync", async () => {
  const store = [1, 2, 3, 4, 5, 6].map((n) => msg("r1", n));
  let serverHas = (x) => x.seq !== 4 && x.seq !== 5; // 4 and 5 not readable yet
  const t = setup({
    routes: (method, path) => {
      const m = path.match(/^\/api\/rooms\/r1\/messages\?after_seq=(\d+)/);
      if (method === "GET" && m) return { body: { messages: store.filter((x) => x.seq > Number(m[1]) && serverHas(x)) } };
      return undefined;
    },
  });
  const s = await online(t, { replay: store.slice(0, 3), last: { r1: 3 } });
  s.serverEmit("NewMessage", { message: store[5], room_id: "r1" }); // 6 after 3
  await t.clock.advance(t.client.gapFillDelayMs);
  await flush();
  // The server had nothing for 4 and 5: 6 is shown rather than held for good, leaving a hole.
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.seq), [1, 2, 3, 6]);
  serverHas = () => true;
  s.drop();
  await t.clock.advance(5000);
  assert.equal(s.authPayload().last_seen.r1, 6);
  s.accept({ rooms: [ROOM] });
  s.serverEmit("SyncComplete", { rooms: [{ room_id: "r1", last_seq: 6 }], missed_count: 0, truncated: false });
  await flush(20);
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.seq), [1, 2, 3, 4, 5, 6]);
});
