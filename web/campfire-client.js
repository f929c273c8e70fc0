// CampfireClient: the Campfire real-time client library.
//
// An ES module over socket.io-client that works in the browser and in Node:
//
//   // browser (the socket.io-client ESM bundle is served by the Campfire server)
//   import { CampfireClient, signIn } from "/campfire-client.js";
//   const { token, user } = await signIn({ email_address, password });
//   const client = new CampfireClient({ token, userId: user.id });
//   client.on("message", ({ message }) => ...);
//   await client.connect();
//
//   // node (real socket.io-client from npm, everything injected)
//   import { io } from "socket.io-client";
//   const client = new CampfireClient({ baseUrl: "http://127.0.0.1:8000", token, io });
//
// What it does (see PROTOCOL.md for the wire contract):
//   - authenticates with the Socket.IO auth payload {token, last_seen} on every (re)connect;
//   - keeps per-room resume cursors (the highest seq received without a gap) in storage;
//   - orders each room's messages by seq, drops duplicates by id, holds messages that arrive
//     after a gap and fills the gap over HTTP (GET /api/rooms/{id}/messages?after_seq=N);
//   - reconnects with its own exponential backoff (1 s doubling, 30 s cap, jitter, 10 attempts,
//     then "offline" until retry() is called); socket.io-client's own reconnection is off;
//   - keeps an offline queue of outgoing messages in storage; each is re-sent with its original
//     client_message_id until the server acknowledges it (the server is idempotent on it);
//   - falls back to HTTP polling when the socket cannot connect but HTTP works;
//   - throttles typing notifications (one TypingStart per 3 s at most, TypingStop after 5 s idle
//     or on send);
//   - logs to the console when localStorage.campfire_debug === "websocket".
//
// Events (client.on(name, fn)); payloads use the protocol's snake_case field names:
//   message         {message, room_id, source}  once per message id; source is "live", "replay",
//                                               "http" (gap fill, own HTTP send), "poll" or
//                                               "history". Beyond the resume cursor, messages of a
//                                               room are emitted in seq order.
//   typingStart     {user_id, room_id}
//   typingStop      {user_id, room_id}
//   presence        {room_id, online_users, recently_active?, mode: "live" | "recent", live?: false}
//                   (live: false: a big room whose presence is fetched, not pushed; refreshed
//                   every presenceRefreshMs while it is the active room)
//   roomJoined      {room}
//   roomLeft        {room_id}
//   roomUpdated     {room}
//   connectionState {state, previous, attempt?, delay_ms?, retry_at?, reason?, refused?}
//   error           {code, message, retry_after?, client_message_id?, room_id?}
//   ready           {user, rooms, connection_id}   (AuthSuccess)
//   synced          {rooms, missed_count, truncated} (SyncComplete)
//   rooms           {rooms}                         (the room list changed)
//   queue           {pending}                       (the offline queue changed)
//   messageFailed   {item, error}                   (a queued message was refused for good)
//   userUpdated     {user}                          (someone sharing a room changed name/avatar/role)
//
// Connection states: "idle", "connecting", "syncing", "connected" (up to date), "reconnecting",
// "offline", "polling", "unauthorized", "closed".
//
// This file is the one import for users; the code is in web/client/, one module per concern
// (see web/README.md for which file holds what).

export { CampfireClient, compose } from "./client/client.js";
export { DEFAULT_IO_URL, STATES } from "./client/constants.js";
export { backoffDelay } from "./client/connection.js";
export { CampfireHttpError, signIn } from "./client/http.js";
export { OfflineQueue } from "./client/outbox.js";
export { joinWithCode, setupFirstRun, setupStatus } from "./client/people.js";
export { RoomTimeline } from "./client/timeline.js";
export { Emitter, MemoryStorage, uuid } from "./client/util.js";

import { CampfireClient } from "./client/client.js";
export default CampfireClient;
