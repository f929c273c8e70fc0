// Drives a live server with the real socket.io-client from npm and prints what it saw as JSON.
// Usage: node protocol_check.mjs <base-url> <token> <room-id>
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { io } = require("socket.io-client");
const [base, token, roomId] = process.argv.slice(2);
const deadline = setTimeout(() => { console.log(JSON.stringify({ error: "timeout" })); process.exit(2); }, 15000);

function refusal(auth) {
  return new Promise((resolve) => {
    const s = io(base, { auth, transports: ["websocket"], reconnection: false });
    s.on("connect", () => { s.close(); resolve({ accepted: true }); });
    s.on("connect_error", (err) => { s.close(); resolve({ message: err.message, data: err.data }); });
  });
}

const report = { events: [] };
const socket = io(base, { auth: { token }, transports: ["websocket"], reconnection: false });
socket.onAny((event, data) => report.events.push([event, data]));
await new Promise((resolve) => socket.on("SyncComplete", resolve));
const clientMessageId = randomUUID();
report.ack = await socket.emitWithAck("NewMessage", { room_id: roomId, content: "from node", client_message_id: clientMessageId });
report.invalid = await socket.emitWithAck("NewMessage", { room_id: roomId, content: "" , client_message_id: randomUUID() });
report.pong = await socket.emitWithAck("Ping", {});
await new Promise((resolve) => {
  const check = () => report.events.some(([e, d]) => e === "NewMessage" && d.message.client_message_id === clientMessageId) ? resolve() : setTimeout(check, 10);
  check();
});
socket.close();
report.wrong = await refusal({ token: "wrong" });
report.empty = await refusal({ token: "" });
clearTimeout(deadline);
console.log(JSON.stringify(report));
