#!/usr/bin/env node
// A webhook bot (PROTOCOL.md 9.6) in plain Node, no dependencies.
//
// An admin creates the bot with this server's address as its webhook URL (Admin page, or
// POST /api/bots {name: "Echo", webhook_url: "http://<this host>:<port>/"}). Campfire then POSTs
// {user, room, message} here for every message that mentions the bot and every message in a
// direct conversation with it; whatever this answers (text, or JSON {content}) is posted as the
// bot's reply in that room.
//
//   node examples/echo-bot.mjs                 # listens on 127.0.0.1:8100
//   PORT=9000 HOST=0.0.0.0 node examples/echo-bot.mjs
//
// It also shows the other direction: with CAMPFIRE_URL and CAMPFIRE_BOT_KEY set, "!later <text>"
// is answered at once and <text> is posted again 5 s later through
// POST /api/bots/{bot_key}/rooms/{room_id}/messages (plain text body).
//
// Campfire only calls webhooks on loopback or private addresses when the server runs with
// CAMPFIRE_WEBHOOK_ALLOW_PRIVATE=1 (for a bot on the same machine or network).

import { createServer } from "node:http";

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 8100);
const campfire = process.env.CAMPFIRE_URL;
const botKey = process.env.CAMPFIRE_BOT_KEY;
const MAX_BODY = 1024 * 1024;

function answer(payload) {
  const text = String(payload?.message?.content || "").trim();
  const who = payload?.user?.name || "someone";
  if (text.startsWith("!later ") && campfire && botKey) {
    const later = text.slice("!later ".length);
    setTimeout(() => postLater(payload.room.id, later), 5000);
    return { content: `OK ${who}, in 5 seconds.` };
  }
  // A JSON answer {content}; a plain-text body would do as well.
  return { content: `echo: ${text}` };
}

async function postLater(roomId, text) {
  const url = `${campfire.replace(/\/+$/, "")}/api/bots/${encodeURIComponent(botKey)}/rooms/${encodeURIComponent(roomId)}/messages`;
  try {
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "text/plain" }, body: text });
    if (!res.ok) console.error(`[echo-bot] posting later failed: HTTP ${res.status}`);
  } catch (err) {
    console.error("[echo-bot] posting later failed:", err.message);
  }
}

const server = createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405, { Allow: "POST" }).end();
    return;
  }
  let size = 0;
  const chunks = [];
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(chunk);
  });
  req.on("end", () => {
    let payload;
    try {
      payload = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const reply = answer(payload);
    console.error(`[echo-bot] ${payload?.user?.name}: ${payload?.message?.content}`);
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(reply));
  });
});

server.listen(port, host, () => {
  // One line on stdout once listening, for scripts and tests that start the bot.
  console.log(JSON.stringify({ event: "listening", url: `http://${host}:${server.address().port}/` }));
});

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
