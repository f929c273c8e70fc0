// Unit tests of the pure parts: backoff, per-room ordering/dedup/gaps, the offline queue.
import { test } from "node:test";
import assert from "node:assert/strict";

import { backoffDelay, MemoryStorage, OfflineQueue, RoomTimeline, uuid } from "../campfire-client.js";
import { msg } from "./fakes.js";

test("backoff doubles from 1 s and is capped at 30 s (no jitter drawn)", () => {
  const delays = Array.from({ length: 10 }, (_, i) => backoffDelay(i, { random: () => 0 }));
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]);
});

test("backoff jitter takes off at most half of the delay", () => {
  assert.equal(backoffDelay(0, { random: () => 1 }), 500);
  assert.equal(backoffDelay(5, { random: () => 1 }), 15000);
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(3);
    assert.ok(d >= 4000 && d <= 8000, `delay ${d} out of [4000, 8000]`);
  }
});

test("backoff jitter spreads clients cut off together", () => {
  const first = new Set(Array.from({ length: 100 }, () => backoffDelay(0)));
  assert.ok(first.size > 50, `only ${first.size} distinct first delays among 100 clients`);
});

test("timeline orders by seq whatever the arrival order of older history", () => {
  const tl = new RoomTimeline("r1");
  tl.add(msg("r1", 10));
  tl.add(msg("r1", 11));
  tl.add(msg("r1", 7)); // older history (seq <= cursor) is inserted in place
  tl.add(msg("r1", 9));
  tl.add(msg("r1", 8));
  assert.deepEqual(tl.messages.map((m) => m.seq), [7, 8, 9, 10, 11]);
  assert.equal(tl.cursor, 11);
});

test("timeline drops duplicates by message id", () => {
  const tl = new RoomTimeline("r1", 0);
  const m1 = msg("r1", 1);
  assert.equal(tl.add(m1).accepted.length, 1);
  const again = tl.add({ ...m1 });
  assert.equal(again.duplicate, true);
  assert.equal(again.accepted.length, 0);
  assert.equal(tl.messages.length, 1);
});

test("timeline holds messages after a gap and releases them in order when it is filled", () => {
  const tl = new RoomTimeline("r1", 5);
  const r8 = tl.add(msg("r1", 8));
  assert.equal(r8.held, true);
  assert.deepEqual(r8.accepted, []);
  assert.deepEqual(tl.gap(), { after: 5, before: 8 });
  assert.equal(tl.add(msg("r1", 8)).duplicate, true, "a held message is a duplicate too");
  tl.add(msg("r1", 9));
  const r6 = tl.add(msg("r1", 6));
  assert.deepEqual(r6.accepted.map((m) => m.seq), [6]);
  const r7 = tl.add(msg("r1", 7));
  assert.deepEqual(r7.accepted.map((m) => m.seq), [7, 8, 9]);
  assert.equal(tl.cursor, 9);
  assert.equal(tl.hasGap, false);
  assert.equal(tl.gap(), null);
});

test("timeline without a cursor starts from the first message it sees", () => {
  const tl = new RoomTimeline("r1");
  assert.deepEqual(tl.add(msg("r1", 51)).accepted.map((m) => m.seq), [51]);
  assert.equal(tl.cursor, 51);
  assert.equal(tl.add(msg("r1", 53)).held, true);
});

test("releaseHeld gives up on a gap the server cannot fill", () => {
  const tl = new RoomTimeline("r1", 1);
  tl.add(msg("r1", 4));
  tl.add(msg("r1", 3));
  assert.deepEqual(tl.releaseHeld().map((m) => m.seq), [3, 4]);
  assert.equal(tl.cursor, 4);
});

test("offline queue survives a reload (a new instance on the same storage)", () => {
  const storage = new MemoryStorage();
  const q1 = new OfflineQueue(storage, "k");
  q1.add({ client_message_id: "a", room_id: "r1", content: "one" });
  q1.add({ client_message_id: "b", room_id: "r1", content: "two" });
  const q2 = new OfflineQueue(storage, "k");
  assert.deepEqual(q2.items.map((i) => i.client_message_id), ["a", "b"]);
  assert.equal(q2.remove("a"), true);
  assert.equal(q2.remove("a"), false);
  assert.deepEqual(new OfflineQueue(storage, "k").items.map((i) => i.content), ["two"]);
  q2.remove("b");
  assert.equal(storage.getItem("k"), null);
});

test("two tabs sharing a queue do not erase each other's messages", () => {
  const storage = new MemoryStorage();
  const tabA = new OfflineQueue(storage, "k");
  const tabB = new OfflineQueue(storage, "k");
  tabA.add({ client_message_id: "a", room_id: "r1", content: "from A" });
  tabB.add({ client_message_id: "b", room_id: "r1", content: "from B" });
  assert.deepEqual(new OfflineQueue(storage, "k").items.map((i) => i.client_message_id), ["a", "b"]);
  tabB.remove("b");
  assert.deepEqual(new OfflineQueue(storage, "k").items.map((i) => i.client_message_id), ["a"]);
  tabA.remove("a");
  assert.equal(storage.getItem("k"), null);
});

test("offline queue ignores corrupt storage", () => {
  const storage = new MemoryStorage();
  storage.setItem("k", "{not json");
  assert.deepEqual(new OfflineQueue(storage, "k").items, []);
});

test("uuid makes version 4 UUIDs", () => {
  const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(uuid(), re);
  const saved = globalThis.crypto.randomUUID;
  try {
    globalThis.crypto.randomUUID = undefined; // an insecure context has no randomUUID
    assert.match(uuid(), re);
  } finally {
    globalThis.crypto.randomUUID = saved;
  }
});
