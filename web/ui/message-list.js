// The message list: day separators, grouping by author, pending messages, older history.

import { renderAttachments } from "./attachments.js";
import { el, errorText, formatDay, formatTime, toast, ui } from "./dom.js";
import { decorateMessage } from "./message-actions.js";
import { app } from "./state.js";
import { userName } from "./users.js";

const GROUP_WINDOW_MS = 5 * 60 * 1000;
const NEAR_BOTTOM_PX = 120; // closer than this to the end counts as "reading the newest"
const NEAR_TOP_PX = 80; // closer than this to the top loads older history

function isNearBottom() {
  const box = ui.messages;
  return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
}

export async function loadOlder(roomId, toBottom) {
  if (app.loadingOlder) return;
  const box = ui.messages;
  const fromBottom = box.scrollHeight - box.scrollTop;
  app.loadingOlder = true;
  try {
    await app.client.loadOlder(roomId);
  } catch (err) {
    if (err.status !== 0) toast(`Could not load messages: ${errorText(err)}`);
    return;
  } finally {
    app.loadingOlder = false;
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

/**
 * A message arrived in the active room (before it is rendered): if the reader is scrolled up,
 * count it on the "new messages" pill instead of moving the page under them.
 */
export function noteNewMessage(source) {
  if (source === "history" || isNearBottom()) return;
  app.unseen = (app.unseen || 0) + 1;
  ui.newMessagesCount.textContent = app.unseen === 1 ? "1 new message" : `${app.unseen} new messages`;
  ui.newMessages.hidden = false;
}

function clearNewMessages() {
  app.unseen = 0;
  ui.newMessages.hidden = true;
}

export function scrollToNewest() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  clearNewMessages();
}

export function renderMessages({ forceBottom = false } = {}) {
  const box = ui.messages;
  const nearBottom = isNearBottom();
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
  let divided = app.dividerSeq == null;
  for (const m of messages) {
    const t = Date.parse(m.created_at);
    const day = formatDay(m.created_at);
    if (!prev || formatDay(prev.created_at) !== day) {
      nodes.push(el("li", { class: "day-separator", text: day }));
      prev = null;
    }
    // "New messages": above the first message after the read position when the room opened.
    if (!divided && m.seq > app.dividerSeq && m.creator_id !== app.session.user.id) {
      divided = true;
      nodes.push(el("li", { class: "unread-divider", role: "separator", text: "New messages" }));
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
  // A room restored from the last visit is unknown until the server lists it: not "empty" yet.
  ui.emptyRoom.hidden = messages.length > 0 || pending.length > 0 || !client.getRoom(roomId);
  ui.loadOlder.hidden = !client.hasOlder(roomId) || messages.length === 0;
  if (forceBottom || nearBottom) scrollToNewest();
}

function messageNode(m, grouped) {
  const mine = m.creator_id === app.session.user.id;
  const node = el(
    "li",
    {
      class: `message${grouped ? " grouped" : ""}${mine ? " mine" : ""}${m.id === app.foundMessageId ? " found" : ""}`,
      dataset: { id: m.id, seq: String(m.seq), clientMessageId: m.client_message_id || "", creatorId: m.creator_id },
    },
    grouped
      ? null
      : el(
          "div",
          { class: "message-meta" },
          el("span", { class: "message-author", text: userName(m.creator_id) }),
          mine ? el("span", { class: "you-badge", text: "you" }) : null,
          el("time", { class: "message-time", datetime: m.created_at, title: new Date(m.created_at).toLocaleString(), text: formatTime(m.created_at) }),
        ),
    el("div", { class: "message-content", text: m.content, title: grouped ? formatTime(m.created_at) : null }),
    renderAttachments(m),
  );
  return decorateMessage(node, m);
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

function onScroll() {
  if (isNearBottom()) clearNewMessages();
  const roomId = app.activeRoomId;
  if (!roomId || !app.client || ui.messages.scrollTop > NEAR_TOP_PX) return;
  // Reached the top: older history loads by itself (the button stays, for keyboards).
  if (app.client.hasOlder(roomId) && app.client.getMessages(roomId).length) loadOlder(roomId, false);
}

export function setupMessageList() {
  ui.loadOlder.addEventListener("click", () => app.activeRoomId && loadOlder(app.activeRoomId, false));
  ui.newMessages.addEventListener("click", () => {
    scrollToNewest();
    ui.input.focus({ preventScroll: true });
  });
  ui.messages.addEventListener("scroll", onScroll, { passive: true });
}
