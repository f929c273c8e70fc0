// Unit tests of client/rooms.js with big rooms: a room above the server's
// CAMPFIRE_ROOM_MEMBER_IDS_MAX comes with `member_count` and no `member_ids`; counts fall back
// to it and the member ids are fetched lazily, once, from GET /api/rooms/{id}.
import { test } from "node:test";
import assert from "node:assert/strict";

import { flush, online, ROOM, setup } from "./fakes.js";

const BIG = { id: "big", name: "everyone", kind: "open", created_at: "2024-01-01T00:00:00Z", member_count: 4 };
const EVERYONE = ["me", "u1", "u2", "u3"];

function roomRoute(ids, calls = []) {
  return (method, path) => {
    if (method === "GET" && path === "/api/rooms/big") {
      calls.push(path);
      return { body: { room: { ...BIG, member_count: undefined, member_ids: ids() } } };
    }
    return undefined;
  };
}

test("member counts: a listed room counts its ids, a big room its member_count", async () => {
  const t = setup();
  await online(t, { rooms: [ROOM, BIG] });
  assert.equal(t.client.memberCount("r1"), 2);
  assert.equal(t.client.memberCount("big"), 4);
  assert.deepEqual(t.client.getMemberIds("r1"), ["me", "u-other"]);
  assert.equal(t.client.getMemberIds("big"), null); // not fetched by itself
  assert.deepEqual(t.fetch.calls, []);
  assert.equal(t.client.memberCount("nope"), 0);
});

test("member ids of a big room are fetched once, lazily, and kept", async () => {
  const calls = [];
  const t = setup({ routes: roomRoute(() => EVERYONE, calls) });
  await online(t, { rooms: [ROOM, BIG] });
  const landed = [];
  t.client.on("members", (d) => landed.push(d));
  // Two asks at once share one request.
  const [a, b] = await Promise.all([t.client.loadMemberIds("big"), t.client.loadMemberIds("big")]);
  assert.deepEqual(a, EVERYONE);
  assert.deepEqual(b, EVERYONE);
  assert.deepEqual(t.client.getMemberIds("big"), EVERYONE);
  assert.deepEqual(await t.client.loadMemberIds("big"), EVERYONE);
  assert.deepEqual(calls, ["/api/rooms/big"]);
  assert.deepEqual(landed, [{ room_id: "big", member_ids: EVERYONE }]);
  // A listed room needs no request.
  assert.deepEqual(await t.client.loadMemberIds("r1"), ["me", "u-other"]);
  assert.equal(calls.length, 1);
  // The room's description itself stays as the server sent it.
  assert.equal("member_ids" in t.client.getRoom("big"), false);
});

test("a membership change forgets the fetched list; a rename keeps it", async () => {
  const calls = [];
  let ids = EVERYONE;
  const t = setup({ routes: roomRoute(() => ids, calls) });
  const s = await online(t, { rooms: [BIG] });
  await t.client.loadMemberIds("big");
  s.serverEmit("RoomUpdated", { room: { ...BIG, name: "renamed" } });
  assert.deepEqual(t.client.getMemberIds("big"), EVERYONE);
  ids = [...EVERYONE, "u4"];
  s.serverEmit("RoomUpdated", { room: { ...BIG, name: "renamed", member_count: 5 } });
  assert.equal(t.client.memberCount("big"), 5);
  assert.equal(t.client.getMemberIds("big"), null);
  assert.deepEqual(await t.client.loadMemberIds("big"), ids);
  assert.equal(calls.length, 2);
});

test("a room switching between ids and count keeps no stale field", async () => {
  const t = setup();
  const s = await online(t, { rooms: [{ ...BIG, member_count: undefined, member_ids: ["me", "u1", "u2"] }] });
  assert.equal(t.client.memberCount("big"), 3);
  // Grown past the bound: the count replaces the ids (not 3 stale ids beside a count of 4).
  s.serverEmit("RoomUpdated", { room: BIG });
  assert.equal(t.client.getRoom("big").member_ids, undefined);
  assert.equal(t.client.memberCount("big"), 4);
  assert.equal(t.client.getMemberIds("big"), null);
  // Shrunk back: the ids replace the count.
  s.serverEmit("RoomUpdated", { room: { ...ROOM, id: "big", member_ids: ["me", "u1"] } });
  assert.equal("member_count" in t.client.getRoom("big"), false);
  assert.equal(t.client.memberCount("big"), 2);
  assert.deepEqual(t.client.getMemberIds("big"), ["me", "u1"]);
});

test("a failed fetch is not kept: the next ask tries again", async () => {
  let fail = true;
  const calls = [];
  const inner = roomRoute(() => EVERYONE, calls);
  const t = setup({
    routes: (method, path, body) => {
      if (fail) throw new TypeError("fetch failed");
      return inner(method, path, body);
    },
  });
  await online(t, { rooms: [BIG] });
  await assert.rejects(t.client.loadMemberIds("big"));
  assert.equal(t.client.getMemberIds("big"), null);
  fail = false;
  assert.deepEqual(await t.client.loadMemberIds("big"), EVERYONE);
  await flush();
});

test("leaving a big room drops its fetched list", async () => {
  const t = setup({ routes: roomRoute(() => EVERYONE) });
  const s = await online(t, { rooms: [BIG] });
  await t.client.loadMemberIds("big");
  s.serverEmit("RoomLeft", { room_id: "big" });
  assert.equal(t.client.getMemberIds("big"), null);
  assert.equal(await t.client.loadMemberIds("big"), null);
});
