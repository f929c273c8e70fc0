#!/usr/bin/env node
// A bot on CampfireClient in plain Node with the real socket.io-client from npm.
//
//   cd web && npm ci
//   CAMPFIRE_URL=http://127.0.0.1:8000 CAMPFIRE_EMAIL=bot@example.com CAMPFIRE_PASSWORD=... \
//     node examples/socket-bot.mjs [--once]
//
// It answers every message that starts with "!echo " in the rooms it belongs to. With --once it
// prints one JSON line when it is connected and up to date, sends "echo-bot ready" to its first
// room, waits for that message to come back over the socket, prints it and exits (the e2e tests
// use this to check that the library works outside a browser).

import { io } from "socket.io-client";
import { CampfireClient, MemoryStorage, signIn } from "../campfire-client.js";

const baseUrl = process.env.CAMPFIRE_URL || "http://127.0.0.1:8000";
const once = process.argv.includes("--once");

const { token, user } = await signIn({
  baseUrl,
  email_address: process.env.CAMPFIRE_EMAIL,
  password: process.env.CAMPFIRE_PASSWORD,
});

const client = new CampfireClient({ baseUrl, token, userId: user.id, io, storage: new MemoryStorage() });

client.on("connectionState", ({ state }) => console.error(`[socket-bot] ${state}`));
client.on("error", (err) => console.error("[socket-bot] error", err));

let readySent = null;
client.on("synced", () => {
  if (!once || readySent) return;
  const room = client.getRooms()[0];
  console.log(JSON.stringify({ event: "synced", user: user.id, rooms: client.getRooms().map((r) => r.id) }));
  if (!room) {
    client.close();
    return;
  }
  readySent = client.sendMessage(room.id, "echo-bot ready");
});

client.on("message", ({ message, room_id, source }) => {
  if (once) {
    if (readySent && message.client_message_id === readySent.client_message_id) {
      console.log(JSON.stringify({ event: "message", room_id, source, seq: message.seq, content: message.content }));
      client.close();
    }
    return;
  }
  if (source === "live" && message.creator_id !== user.id && message.content.startsWith("!echo ")) {
    client.sendMessage(room_id, message.content.slice("!echo ".length));
  }
});

await client.connect();
