// Unit tests of client/presence.js: presence and typing.
import { test } from "node:test";
import assert from "node:assert/strict";

import { ROOM, ROOM2, flush, msg, online, setup } from "./fakes.js";

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

test("twelve quick messages stay within the server's default typing budget", async () => {
  const t = setup();
  const s = await online(t);
  const times = [];
  const origEmit = s.emit.bind(s);
  s.emit = (event, data) => {
    if (event === "TypingStart") times.push(t.clock.now());
    return origEmit(event, data);
  };
  for (let m = 0; m < 12; m++) {
    for (let k = 0; k < 5; k++) {
      t.client.typing("r1"); // 5 keystrokes, 250 ms apart, then Enter: a message every 3.5 s
      await t.clock.advance(250);
    }
    t.client.sendMessage("r1", `quick ${m}`);
    await t.clock.advance(2250);
  }
  await t.clock.advance(10000);
  // The server's default (app/config.py typing_rate) is 10 new bursts a minute (PROTOCOL.md); the
  // client announces at most typingStartsPerMinute of them in any minute, spaced by
  // typingThrottleMs, whatever the rhythm of messages.
  assert.equal(t.client.typingStartsPerMinute, 10);
  assert.ok(times.length >= 5, `only ${times.length} bursts announced`);
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i] - times[i - 1] >= t.client.typingThrottleMs, `TypingStart ${times[i] - times[i - 1]} ms apart`);
  }
  for (const from of times) {
    const inMinute = times.filter((at) => at >= from && at < from + 60000).length;
    assert.ok(inMinute <= 10, `${inMinute} bursts announced within a minute`);
  }
  assert.equal(t.of("error").length, 0);
  // Every announced burst was ended, and no TypingStop went out for a burst never announced.
  assert.equal(s.sentOf("TypingStop").length, times.length);
});

test("continuous typing refreshes TypingStart often enough for the server's 5 s expiry", async () => {
  const t = setup();
  const s = await online(t);
  const times = [];
  const origEmit = s.emit.bind(s);
  s.emit = (event, data) => {
    if (event === "TypingStart") times.push(t.clock.now());
    return origEmit(event, data);
  };
  for (let k = 0; k < 100; k++) {
    t.client.typing("r1"); // a keystroke every 300 ms for 30 s
    await t.clock.advance(300);
  }
  assert.ok(times.length >= 9, `${times.length} TypingStart in 30 s`);
  for (let i = 1; i < times.length; i++) {
    const gap = times[i] - times[i - 1];
    assert.ok(gap >= 3000 && gap < 5000, `gap ${gap} ms`);
  }
  assert.equal(s.sentOf("TypingStop").length, 0);
});

test("a typing burst that sent no TypingStart sends no TypingStop", async () => {
  const t = setup();
  const s = await online(t);
  t.client.typing("r1");
  t.client.sendMessage("r1", "one");
  t.client.typing("r1"); // within 3 s of the last TypingStart: deferred
  t.client.sendMessage("r1", "two"); // sent before the deferred TypingStart was due
  await t.clock.advance(10000);
  assert.equal(s.sentOf("TypingStart").length, 1);
  assert.equal(s.sentOf("TypingStop").length, 1);
});

test("relayed refreshes keep someone's indicator on until their TypingStop", async () => {
  const t = setup();
  const s = await online(t);
  for (let i = 0; i < 10; i++) {
    s.serverEmit("TypingStart", { user_id: "u-other", room_id: "r1" }); // the server relays a refresh every 3 s
    await t.clock.advance(3000);
    assert.deepEqual(t.client.getTyping("r1"), ["u-other"], `gone after ${(i + 1) * 3} s`);
  }
  assert.equal(t.of("typingStart").length, 1);
  assert.equal(t.of("typingStop").length, 0);
  s.serverEmit("TypingStop", { user_id: "u-other", room_id: "r1" });
  assert.deepEqual(t.client.getTyping("r1"), []);
  assert.equal(t.of("typingStop").length, 1);
});

test("a big room's presence (live: false) is fetched while it is on screen, not pushed", async () => {
  const t = setup({ presenceRefreshMs: 60000 });
  const big = { ...ROOM2, id: "big", name: "all-talk" };
  const s = await online(t, { rooms: [ROOM, big] });
  s.serverEmit("PresenceUpdate", { room_id: "r1", online_users: ["me", "u-other"] });
  s.serverEmit("PresenceUpdate", { room_id: "big", online_users: ["me"], live: false });
  assert.equal(t.of("presence").at(-1).live, false);
  assert.equal(t.of("presence").at(-2).live, undefined, "a small room's presence stays live");
  const asks = () => s.sentOf("GetPresence").filter((r) => r.data.room_id === "big");

  assert.equal(asks().length, 0, "not asked at AuthSuccess: the server's PresenceUpdate follows it");
  t.client.setActiveRoom("big"); // opened: fetched at once
  assert.equal(asks().length, 1);
  asks()[0].reply({ type: "PresenceUpdate", data: { room_id: "big", online_users: ["me", "u-2", "u-3"], live: false } });
  await flush();
  assert.deepEqual(t.client.getOnline("big"), ["me", "u-2", "u-3"]);
  await t.clock.advance(47999); // random() = 0: the shortest jittered interval, 0.8 x 60 s
  assert.equal(asks().length, 1);
  await t.clock.advance(1);
  assert.equal(asks().length, 2, "refreshed while on screen");
  asks()[1].reply({ type: "PresenceUpdate", data: { room_id: "big", online_users: ["me"], live: false } });
  await flush();
  assert.deepEqual(t.client.getOnline("big"), ["me"]);

  t.client.setActiveRoom("r1"); // a small room on screen: no more refreshes of either
  await t.clock.advance(300000);
  assert.equal(asks().length, 2);
  assert.equal(s.sentOf("GetPresence").filter((r) => r.data.room_id === "r1").length, 1);
});

test("a room that grows past the threshold switches to fetched presence, and back", async () => {
  const t = setup({ presenceRefreshMs: 1000 });
  const s = await online(t);
  t.client.setActiveRoom("r1");
  s.sentOf("GetPresence")[0].reply({ type: "PresenceUpdate", data: { room_id: "r1", online_users: ["me"] } });
  await flush();
  await t.clock.advance(5000);
  assert.equal(s.sentOf("GetPresence").length, 1, "a live room is not polled");
  s.serverEmit("PresenceUpdate", { room_id: "r1", online_users: ["me"], live: false });
  await t.clock.advance(800);
  assert.equal(s.sentOf("GetPresence").length, 2);
  s.sentOf("GetPresence")[1].reply({ type: "PresenceUpdate", data: { room_id: "r1", online_users: ["me", "u-other"] } });
  await flush();
  await t.clock.advance(5000);
  assert.equal(s.sentOf("GetPresence").length, 2, "live again: no more polling");
});
