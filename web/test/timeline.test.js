// Unit tests of client/timeline.js: per-room ordering, de-duplication and gaps.
import { test } from "node:test";
import assert from "node:assert/strict";

import { RoomTimeline } from "../campfire-client.js";
import { msg } from "./fakes.js";

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

test("hole: the lowest seq missing between the first message and the cursor", () => {
  const tl = new RoomTimeline("r1", 0);
  for (const n of [1, 2, 3]) tl.add(msg("r1", n));
  assert.equal(tl.hole(), null);
  tl.add(msg("r1", 6)); // held: above the cursor, not a hole
  assert.equal(tl.hole(), null);
  tl.releaseHeld(); // given up on 4 and 5: the cursor jumps past them
  assert.equal(tl.cursor, 6);
  assert.equal(tl.hole(), 4);
  tl.add(msg("r1", 4));
  assert.equal(tl.hole(), 5);
  tl.add(msg("r1", 5));
  assert.equal(tl.hole(), null);
});
