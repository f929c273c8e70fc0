// Unit tests of client/rooms.js: the room list.
import { test } from "node:test";
import assert from "node:assert/strict";

import { online, ROOM2, setup } from "./fakes.js";

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
