// Unit tests of client/messages.js: MessageUpdated applied idempotently by rev, rev cursors
// persisted and sent as last_rev, rev gaps filled over HTTP, changes over socket and HTTP.
import { test } from "node:test";
import assert from "node:assert/strict";

import { flush, MemoryStorage, msg, online, ROOM, setup } from "./fakes.js";

const upd = (seq, rev, extra = {}) => ({ room_id: "r1", rev, message: { ...msg("r1", seq), rev, ...extra } });

function syncWithRevs(s, lastRev, { truncated = false, lastSeq = 2 } = {}) {
  s.serverEmit("SyncComplete", { rooms: [{ room_id: "r1", last_seq: lastSeq, last_rev: lastRev }], missed_count: 0, truncated });
}

test("MessageUpdated replaces a message only with a higher rev", async () => {
  const t = setup();
  const updates = [];
  t.client.on("messageUpdated", (d) => updates.push(d));
  const s = await online(t, { replay: [msg("r1", 1), msg("r1", 2)], last: { r1: 2 } });
  s.serverEmit("MessageUpdated", upd(1, 3, { content: "third" }));
  s.serverEmit("MessageUpdated", upd(1, 2, { content: "older" })); // late: ignored
  s.serverEmit("MessageUpdated", upd(1, 3, { content: "third" })); // again: ignored
  assert.equal(t.client.getMessage("r1", "m-r1-1").content, "third");
  assert.deepEqual(updates.map((u) => u.rev), [3]);
  // A NewMessage copy (rev 0) of a message we hold changed does not bring it back.
  s.serverEmit("NewMessage", { message: msg("r1", 1), room_id: "r1" });
  assert.equal(t.client.getMessages("r1")[0].content, "third");
});

test("rev cursors come from SyncComplete, persist, and are sent as last_rev", async () => {
  const storage = new MemoryStorage();
  const t = setup({ storage });
  await t.client.connect();
  const s = t.io.last;
  assert.equal(s.authPayload().last_rev, undefined); // none known yet
  s.accept({ rooms: [ROOM] });
  s.serverEmit("NewMessage", { message: msg("r1", 1), room_id: "r1" });
  syncWithRevs(s, 4, { lastSeq: 1 });
  assert.equal(t.client.getRevCursor("r1"), 4);
  s.serverEmit("MessageUpdated", upd(1, 5));
  assert.equal(t.client.getRevCursor("r1"), 5);
  assert.deepEqual(JSON.parse(storage.getItem("campfire:me:last_rev")), { r1: 5 });
  s.drop();
  await t.clock.advance(1000);
  assert.deepEqual(t.io.last.authPayload(), { token: "tok", last_seen: { r1: 1 }, last_rev: { r1: 5 } });
  // A reload resumes from the stored rev cursor.
  const t2 = setup({ storage });
  await t2.client.connect();
  assert.deepEqual(t2.io.last.authPayload().last_rev, { r1: 5 });
});

test("replayed updates skip revs without a gap fill; SyncComplete sets the cursor", async () => {
  const storage = new MemoryStorage();
  storage.setItem("campfire:me:last_rev", JSON.stringify({ r1: 1 }));
  storage.setItem("campfire:me:last_seen", JSON.stringify({ r1: 2 }));
  const t = setup({ storage, routes: () => assert.fail("no HTTP expected") });
  await t.client.connect();
  const s = t.io.last;
  assert.deepEqual(s.authPayload().last_rev, { r1: 1 });
  s.accept({ rooms: [ROOM] });
  s.serverEmit("MessageUpdated", upd(1, 3, { content: "edited twice" }));
  s.serverEmit("MessageUpdated", upd(2, 6, { deleted: true, content: "" }));
  syncWithRevs(s, 6);
  await t.clock.advance(5000);
  assert.equal(t.client.getRevCursor("r1"), 6);
});

test("a live rev jump is filled from after_rev", async () => {
  const calls = [];
  const t = setup({
    routes: (method, path) => {
      calls.push(`${method} ${path}`);
      if (path.startsWith("/api/rooms/r1/messages?after_rev=1")) {
        return { body: { messages: [{ ...msg("r1", 2), rev: 2, content: "missed edit" }] } };
      }
      return undefined;
    },
  });
  const s = await online(t, { replay: [msg("r1", 1), msg("r1", 2)], last: { r1: 2 } });
  syncWithRevs(s, 1);
  s.serverEmit("MessageUpdated", upd(1, 3, { content: "live" }));
  assert.equal(t.client.getRevCursor("r1"), 1); // 2 is missing
  await t.clock.advance(t.client.gapFillDelayMs + 10);
  await flush();
  assert.deepEqual(calls, ["GET /api/rooms/r1/messages?after_rev=1&limit=200"]);
  assert.equal(t.client.getMessage("r1", "m-r1-2").content, "missed edit");
  assert.equal(t.client.getRevCursor("r1"), 3);
});

test("an update that overtakes its NewMessage adds the message", async () => {
  const t = setup();
  const s = await online(t, { replay: [msg("r1", 1)], last: { r1: 1 } });
  syncWithRevs(s, 0, { lastSeq: 1 });
  s.serverEmit("MessageUpdated", upd(2, 1, { content: "edited already" }));
  s.serverEmit("NewMessage", { message: msg("r1", 2), room_id: "r1" });
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.content), ["message 1", "edited already"]);
});

test("edits, deletes and boosts go over the socket with a MessageUpdated ack", async () => {
  const t = setup();
  const s = await online(t, { replay: [msg("r1", 1, { creator_id: "me" })], last: { r1: 1 } });
  syncWithRevs(s, 0, { lastSeq: 1 });
  const edited = t.client.editMessage("r1", "m-r1-1", "new text", { mentionIds: ["u-other"] });
  const [sent] = s.sentOf("EditMessage");
  assert.deepEqual(sent.data, { message_id: "m-r1-1", room_id: "r1", content: "new text", mention_ids: ["u-other"] });
  sent.reply({ type: "MessageUpdated", data: upd(1, 1, { content: "new text" }) });
  assert.equal((await edited).content, "new text");
  const boosted = t.client.addBoost("r1", "m-r1-1", "👍");
  s.sentOf("AddBoost")[0].reply({ type: "Error", data: { code: "not_found", message: "message not found" } });
  await assert.rejects(boosted, (err) => err.code === "not_found");
  const removed = t.client.removeBoost("r1", "m-r1-1", "b1");
  assert.deepEqual(s.sentOf("RemoveBoost")[0].data, { message_id: "m-r1-1", room_id: "r1", boost_id: "b1" });
  s.sentOf("RemoveBoost")[0].reply({ type: "MessageUpdated", data: upd(1, 2, { content: "new text" }) });
  await removed;
  assert.equal(t.client.getRevCursor("r1"), 2);
});

test("mention_ids travel with a queued message", async () => {
  const t = setup();
  const s = await online(t);
  t.client.sendMessage("r1", "hi @Other", { mentionIds: ["u-other", "u-other"] });
  await flush();
  assert.deepEqual(s.sentOf("NewMessage")[0].data.mention_ids, ["u-other"]);
});

test("a reconnect moves the rev cursor to SyncComplete's last_rev", async () => {
  const t = setup();
  const s = await online(t, { replay: [msg("r1", 1)], last: { r1: 1 } });
  syncWithRevs(s, 2, { lastSeq: 1 });
  assert.equal(t.client.getRevCursor("r1"), 2);
  s.drop();
  await t.clock.advance(1000);
  const s2 = t.io.last;
  assert.deepEqual(s2.authPayload().last_rev, { r1: 2 });
  s2.accept({ rooms: [ROOM] });
  s2.serverEmit("MessageUpdated", upd(1, 7, { content: "changed while away" }));
  syncWithRevs(s2, 7, { lastSeq: 1 });
  assert.equal(t.client.getRevCursor("r1"), 7);
  assert.equal(t.client.getMessage("r1", "m-r1-1").content, "changed while away");
});

test("a truncated replay fills the changes from the old rev cursor", async () => {
  const calls = [];
  const t = setup({
    routes: (method, path) => {
      calls.push(path);
      if (path.includes("after_rev=2")) return { body: { messages: [{ ...msg("r1", 1), rev: 9, content: "late" }] } };
      return { body: { messages: [] } };
    },
  });
  const s = await online(t, { replay: [msg("r1", 1)], last: { r1: 1 } });
  syncWithRevs(s, 2, { lastSeq: 1 });
  s.drop();
  await t.clock.advance(1000);
  const s2 = t.io.last;
  s2.accept({ rooms: [ROOM] });
  syncWithRevs(s2, 9, { lastSeq: 1, truncated: true });
  await flush();
  assert.ok(calls.includes("/api/rooms/r1/messages?after_rev=2&limit=200"), calls.join(", "));
  assert.equal(t.client.getRevCursor("r1"), 9);
  assert.equal(t.client.getMessage("r1", "m-r1-1").content, "late");
});
