// The message list: day separators, grouping by author, pending messages, older history.

import { el, errorText, formatDay, formatTime, toast, ui } from "./dom.js";
import { app } from "./state.js";
import { userName } from "./users.js";

const GROUP_WINDOW_MS = 5 * 60 * 1000;

export async function loadOlder(roomId, toBottom) {
  const box = ui.messages;
  const fromBottom = box.scrollHeight - box.scrollTop;
  try {
    await app.client.loadOlder(roomId);
  } catch (err) {
    if (err.status !== 0) toast(`Could not load messages: ${errorText(err)}`);
    return;
  }
  if (roomId !== app.activeRoomId) return;
  renderMessages({ forceBottom: toBottom });
  if (!toBottom) box.scrollTop = box.scrollHeight - fromBottom; // keep the reader's place
}

export function scheduleRenderMessages() {
  if (app.renderPending) return;
  app.renderPending = true;
  requestAnimationFrame(() => {
    app.renderPending = false;
    renderMessages();
  });
}

export function renderMessages({ forceBottom = false } = {}) {
  const box = ui.messages;
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  const roomId = app.activeRoomId;
  const client = app.client;
  if (!roomId || !client) {
    ui.messageList.replaceChildren();
    ui.loadOlder.hidden = true;
    ui.emptyRoom.hidden = true;
    return;
  }
  const messages = client.getMessages(roomId);
  const pending = client.getPending(roomId);
  const nodes = [];
  let prev = null;
  for (const m of messages) {
    const t = Date.parse(m.created_at);
    const day = formatDay(m.created_at);
    if (!prev || formatDay(prev.created_at) !== day) {
      nodes.push(el("li", { class: "day-separator", text: day }));
      prev = null;
    }
    const grouped =
      prev && prev.creator_id === m.creator_id && t - Date.parse(prev.created_at) < GROUP_WINDOW_MS;
    nodes.push(messageNode(m, grouped));
    prev = m;
  }
  const delivered = new Set(messages.map((m) => m.client_message_id));
  for (const p of pending) {
    if (delivered.has(p.client_message_id)) continue;
    nodes.push(pendingNode(p));
  }
  ui.messageList.replaceChildren(...nodes);
  ui.emptyRoom.hidden = messages.length > 0 || pending.length > 0;
  ui.loadOlder.hidden = !client.hasOlder(roomId) || messages.length === 0;
  if (forceBottom || nearBottom) box.scrollTop = box.scrollHeight;
}

function messageNode(m, grouped) {
  const mine = m.creator_id === app.session.user.id;
  return el(
    "li",
    {
      class: `message${grouped ? " grouped" : ""}${mine ? " mine" : ""}`,
      dataset: { id: m.id, seq: String(m.seq), clientMessageId: m.client_message_id || "", creatorId: m.creator_id },
    },
    grouped
      ? null
      : el(
          "div",
          { class: "message-meta" },
          el("span", { class: "message-author", text: userName(m.creator_id) }),
          el("time", { class: "message-time", datetime: m.created_at, title: new Date(m.created_at).toLocaleString(), text: formatTime(m.created_at) }),
        ),
    el("div", { class: "message-content", text: m.content, title: grouped ? formatTime(m.created_at) : null }),
  );
}

function pendingNode(p) {
  const label = p.status === "sent" ? "Sent" : app.client.connected || app.client.polling ? "Sending…" : "Waiting for connection";
  return el(
    "li",
    { class: `message mine pending status-${p.status}`, dataset: { clientMessageId: p.client_message_id, pending: p.status } },
    el(
      "div",
      { class: "message-meta" },
      el("span", { class: "message-author", text: userName(app.session.user.id) }),
      el("span", { class: "message-status", text: label }),
    ),
    el("div", { class: "message-content", text: p.content }),
  );
}

export function setupMessageList() {
  ui.loadOlder.addEventListener("click", () => app.activeRoomId && loadOlder(app.activeRoomId, false));
}
