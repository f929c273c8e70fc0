// The CampfireClient library (web/) in Node with the real socket.io-client, against a live server:
// B is offline while A edits, boosts and deletes; B reconnects (same storage, like a reload) and
// must hold the final state. Prints what B saw as JSON.
// Usage: node lifecycle_check.mjs <base-url> <token-a> <token-b> <user-b-id> <room-id> <polling|socket>
import { createRequire } from "node:module";

import { CampfireClient, MemoryStorage } from "../../web/campfire-client.js";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { io } = require("socket.io-client");
const [baseUrl, tokenA, tokenB, userB, roomId, mode] = process.argv.slice(2);
const deadline = setTimeout(() => { console.log(JSON.stringify({ error: "timeout" })); process.exit(2); }, 90000);

async function api(token, method, path, body) {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.status === 204 ? null : res.json();
}

const once = (client, event, predicate = () => true) =>
  new Promise((resolve) => {
    const on = (data) => { if (predicate(data)) { client.off(event, on); resolve(data); } };
    client.on(event, on);
  });

const base = `/api/rooms/${roomId}/messages`;
const sent = [];
for (const content of ["keep", "edit me", "boost me", "delete me"]) {
  sent.push((await api(tokenA, "POST", base, { content })).message);
}
// The network can be cut: while `down`, every socket goes to a port where nothing listens.
let down = false;
const switchIo = (url, opts) => (down ? io("http://127.0.0.1:9", { ...opts, timeout: 500 }) : io(url, opts));
const client = new CampfireClient({
  baseUrl, token: tokenB, userId: userB, io: switchIo, storage: new MemoryStorage(),
  backoffBaseMs: 100, backoffMaxMs: 300, maxReconnectAttempts: 1000, pollIntervalMs: 200,
  pollAfterFailures: mode === "polling" ? 1 : 1000,
});
const synced = once(client, "synced");
await client.connect();
await synced;
const seenBefore = client.getMessages(roomId).length;
// One change B sees live, so that B has a rev cursor above 0.
const live = once(client, "messageUpdated");
await api(tokenA, "PATCH", `${base}/${sent[0].id}`, { content: "kept, edited while online" });
await live;
const revBefore = client.getRevCursor(roomId);
down = true;
const gone = once(client, "connectionState", (d) => d.state !== "connected");
client._socket.io.engine.close(); // the connection drops, as on a network failure
await gone;

// Listening before the changes: while polling, the client may fetch the last one at once.
const caughtUp = once(client, "messageUpdated", (d) => d.message.id === sent[1].id && d.rev === 5);
await api(tokenA, "PATCH", `${base}/${sent[1].id}`, { content: "edited while B was away" });
const boost = await api(tokenA, "POST", `${base}/${sent[2].id}/boosts`, { content: "🎉" });
await api(tokenA, "DELETE", `${base}/${sent[3].id}`);
await api(tokenA, "PATCH", `${base}/${sent[1].id}`, { content: "edited twice while B was away" });

if (mode !== "polling") down = false; // the socket comes back and replays from last_rev
await caughtUp;
// The cursor moves once the catch-up is complete (SyncComplete, or the end of the after_rev page).
while (client.getRevCursor(roomId) < 5) await new Promise((r) => setTimeout(r, 20));
const second = client;
const messages = second.getMessages(roomId);
second.close();
clearTimeout(deadline);
console.log(JSON.stringify({ seenBefore, revBefore, messages, revAfter: second.getRevCursor(roomId), boostId: boost.boost.id, ids: sent.map((m) => m.id), state: second.state, polled: mode === "polling" }));
process.exit(0);
