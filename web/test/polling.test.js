// Unit tests of client/polling.js: the HTTP fallback.
import { test } from "node:test";
import assert from "node:assert/strict";

import { flush, msg, ROOM, setup } from "./fakes.js";

test("HTTP polling when the socket cannot connect but HTTP works", async () => {
  const store = [msg("r1", 1), msg("r1", 2)];
  const posted = [];
  const t = setup({
    routes: (method, path, body) => {
      if (path === "/api/me") return { body: { user: { id: "me" } } };
      if (path === "/api/rooms") return { body: { rooms: [ROOM] } };
      if (method === "GET" && path.startsWith("/api/rooms/r1/messages")) {
        const after = Number((path.match(/after_seq=(\d+)/) || [0, 0])[1]);
        return { body: { messages: store.filter((m) => m.seq > after) } };
      }
      if (method === "POST" && path === "/api/rooms/r1/messages") {
        posted.push(body);
        const m = msg("r1", store.length + 1, { creator_id: "me", content: body.content, client_message_id: body.client_message_id });
        store.push(m);
        return { status: 201, body: { message: m } };
      }
      if (path === "/api/rooms/r1/presence") return { body: { online_users: ["me"], recently_active: ["me", "u-other"] } };
      return undefined;
    },
  });
  await t.client.connect();
  const s = t.io.last;
  t.client.setActiveRoom("r1");
  s.refuse(undefined, "websocket error");
  await flush();
  assert.equal(t.client.state, "reconnecting", "one failure is not enough");
  await t.clock.advance(t.client.stateInfo.delay_ms);
  s.refuse(undefined, "websocket error");
  await flush(20);
  assert.equal(t.client.state, "polling");
  const calls = s.connectCalls;
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.seq), [1, 2]);
  const presence = t.of("presence").at(-1);
  assert.equal(presence.mode, "recent");
  assert.deepEqual(presence.recently_active, ["me", "u-other"]);

  // Sends go over HTTP with their client_message_id; typing is off.
  const item = t.client.sendMessage("r1", "via http");
  await flush(20);
  assert.deepEqual(posted, [{ content: "via http", client_message_id: item.client_message_id }]);
  assert.deepEqual(t.client.getPending(), []);
  t.client.typing("r1");
  assert.equal(s.sentOf("TypingStart").length, 0);

  // Another user's message shows up at the next poll.
  store.push(msg("r1", 4));
  await t.clock.advance(t.client.pollIntervalMs);
  assert.deepEqual(t.client.getMessages("r1").map((m) => m.seq), [1, 2, 3, 4]);

  // The socket is tried again in the background; when it connects, polling stops.
  await t.clock.advance(30000);
  assert.ok(s.connectCalls > calls);
  s.accept({ rooms: [ROOM] });
  assert.equal(t.client.state, "syncing");
  assert.equal(t.client.polling, false);
});
