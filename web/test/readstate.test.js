// Unit tests of client/readstate.js: server read state, RoomRead, MarkRead, Visibility.
import { test } from "node:test";
import assert from "node:assert/strict";

import { flush, msg, online, ROOM, setup } from "./fakes.js";

const READ_ROOM = { ...ROOM, last_seq: 5, last_read_seq: 3, unread_count: 2, mentioned: true, involvement: "mentions" };

test("read state: the server's counts, then live messages on top", async () => {
  const t = setup();
  const s = await online(t, { rooms: [READ_ROOM], last: { r1: 5 } });
  assert.equal(t.client.unreadCount("r1"), 2);
  assert.equal(t.client.isMentioned("r1"), true);
  s.serverEmit("NewMessage", { message: msg("r1", 6), room_id: "r1" });
  s.serverEmit("NewMessage", { message: { ...msg("r1", 7), deleted: true, content: "" }, room_id: "r1" });
  assert.equal(t.client.unreadCount("r1"), 3); // tombstones do not count
  // Sending marks read for the sender: an own message reads everything before it.
  s.serverEmit("NewMessage", { message: msg("r1", 8, { creator_id: "me" }), room_id: "r1" });
  assert.equal(t.client.unreadCount("r1"), 0);
  assert.equal(t.client.isMentioned("r1"), false);
});

test("read state: RoomRead from another device moves it forward only", async () => {
  const t = setup();
  const s = await online(t, { rooms: [READ_ROOM], last: { r1: 5 } });
  const reads = [];
  t.client.on("read", (d) => reads.push(d));
  s.serverEmit("RoomRead", { room_id: "r1", last_read_seq: 5 });
  assert.equal(t.client.unreadCount("r1"), 0);
  assert.equal(t.client.isMentioned("r1"), false);
  s.serverEmit("RoomRead", { room_id: "r1", last_read_seq: 4 });
  assert.equal(t.client.getLastRead("r1"), 5);
  assert.deepEqual(reads, [{ room_id: "r1", last_read_seq: 5 }]);
  // A mention that arrives after it is flagged from the timeline.
  s.serverEmit("NewMessage", { message: { ...msg("r1", 6), mention_ids: ["me"] }, room_id: "r1" });
  assert.equal(t.client.isMentioned("r1"), true);
});

test("read state: markRead sends MarkRead at once, then at most once a second", async () => {
  const t = setup();
  const s = await online(t, { rooms: [READ_ROOM], last: { r1: 5 } });
  t.client.markRead("r1");
  assert.equal(t.client.unreadCount("r1"), 0); // locally at once
  await t.clock.advance(0);
  const [first] = s.sentOf("MarkRead");
  assert.deepEqual(first.data, { room_id: "r1", seq: 5 });
  first.reply({ type: "RoomRead", data: { room_id: "r1", last_read_seq: 5 } });
  await flush();
  s.serverEmit("NewMessage", { message: msg("r1", 6), room_id: "r1" });
  s.serverEmit("NewMessage", { message: msg("r1", 7), room_id: "r1" });
  t.client.markRead("r1", 6);
  t.client.markRead("r1", 7);
  t.client.markRead("r1", 2); // backwards: nothing
  await t.clock.advance(500);
  assert.equal(s.sentOf("MarkRead").length, 1);
  await t.clock.advance(600);
  const sent = s.sentOf("MarkRead").map((r) => r.data.seq);
  assert.deepEqual(sent, [5, 7]);
});

test("visibility is reported over the socket", async () => {
  const t = setup();
  const s = await online(t, { rooms: [READ_ROOM] });
  t.client.setVisible(false);
  const [sent] = s.sentOf("Visibility");
  assert.deepEqual(sent.data, { visible: false });
  sent.reply({ type: "Ok", data: { visible: false } });
});

test("involvement is changed over HTTP and merged into the room", async () => {
  const t = setup({
    routes: (method, path, body) => {
      if (method === "PATCH" && path === "/api/rooms/r1/membership") {
        return { body: { room: { ...READ_ROOM, involvement: body.involvement } } };
      }
      return undefined;
    },
  });
  await online(t, { rooms: [READ_ROOM] });
  await t.client.setInvolvement("r1", "everything");
  assert.equal(t.client.getRoom("r1").involvement, "everything");
});
