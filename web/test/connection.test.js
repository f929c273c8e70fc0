// Unit tests of client/connection.js: connecting, backoff, reconnection, auth refusals, logging.
import { test } from "node:test";
import assert from "node:assert/strict";

import { backoffDelay } from "../campfire-client.js";
import { flush, MemoryStorage, networkDown, online, ROOM, setup } from "./fakes.js";

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

test("a refusal's code is kept in the state info (refused) until a connection succeeds", async () => {
  const t = setup({ routes: networkDown });
  await t.client.connect();
  t.io.last.refuse({ code: "rate_limit_exceeded", message: "slow down", retry_after: 30 });
  await flush();
  const info = t.of("connectionState").at(-1);
  assert.equal(info.state, "reconnecting");
  assert.equal(info.refused, "rate_limit_exceeded");
  assert.ok(info.delay_ms >= 30000, "retry_after honoured");
  await t.clock.advance(info.delay_ms);
  t.io.last.accept({ rooms: [] });
  t.io.last.drop();
  await flush();
  const after = t.of("connectionState").at(-1);
  assert.equal(after.state, "reconnecting");
  assert.equal(after.refused, undefined);
});
