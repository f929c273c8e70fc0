// Unit tests of client/client.js (the facade and how the concern modules are composed) and of the
// one public import, campfire-client.js.
import { test } from "node:test";
import assert from "node:assert/strict";

import * as entry from "../campfire-client.js";
import { CampfireClient, compose } from "../campfire-client.js";
import { MemoryStorage } from "./fakes.js";

test("campfire-client.js still exports everything it exported as one file", () => {
  for (const name of [
    "CampfireClient", "signIn", "STATES", "DEFAULT_IO_URL", "backoffDelay", "uuid", "MemoryStorage",
    "Emitter", "CampfireHttpError", "RoomTimeline", "OfflineQueue",
  ]) {
    assert.ok(entry[name], `${name} missing from campfire-client.js`);
  }
  assert.equal(entry.default, CampfireClient);
});

test("the facade has the methods of every concern", () => {
  const client = new CampfireClient({ token: "t", storage: new MemoryStorage() });
  for (const name of [
    "connect", "close", "retry", "signOut", "sendMessage", "discardPending", "getPending", "typing",
    "stopTyping", "getOnline", "getTyping", "requestPresence", "setActiveRoom", "getMessages",
    "getCursors", "loadOlder", "hasOlder", "getRooms", "createRoom", "joinRoom", "leaveRoom",
    "refreshRooms", "listUsers", "me", "on", "off", "once",
  ]) {
    assert.equal(typeof client[name], "function", name);
  }
  assert.equal(client.connected, false); // accessors are carried over as accessors
  assert.equal(client.polling, false);
});

test("each protocol event the server pushes has exactly one handler", () => {
  const events = Object.keys(CampfireClient.prototype._socketEvents).sort();
  assert.deepEqual(events, [
    "MessageUpdated", "NewMessage", "PresenceUpdate", "RoomJoined", "RoomLeft", "RoomRead", "RoomUpdated", "TypingStart",
    "TypingStop", "UserJoined", "UserLeft", "UserUpdated",
  ]);
});

test("two concerns defining the same method or socket event is an error at load time", () => {
  class Base {
    send() {}
  }
  class A {
    send() {}
  }
  assert.throws(() => compose(Base, [A]), /A\.send is also defined by Base/);
  class B {
    static socketEvents = { NewMessage() {} };
  }
  class C {
    static socketEvents = { NewMessage() {} };
  }
  class Target {}
  assert.throws(() => compose(Target, [B, C]), /NewMessage is handled twice/);
});
