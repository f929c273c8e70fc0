// Unit tests of client/outbox.js: the offline queue and sending each message exactly once.
import { test } from "node:test";
import assert from "node:assert/strict";

import { OfflineQueue } from "../campfire-client.js";
import { flush, MemoryStorage, msg, online, ROOM, setup } from "./fakes.js";

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
