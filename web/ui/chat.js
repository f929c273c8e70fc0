// The signed-in page: the client's events wired to the views, the active room, read positions.

import { CampfireClient, STATES } from "../campfire-client.js";
import { renderBanner } from "./banner.js";
import { renderTyping, updateComposer } from "./composer.js";
import { signedOutNotice } from "./connection-text.js";
import { errorText, load, store, toast, ui } from "./dom.js";
import { closeDrawers } from "./drawers.js";
import { renderMembers } from "./members.js";
import { loadOlder, noteNewMessage, renderMessages, scheduleRenderMessages } from "./message-list.js";
import { renderInvolvement, setupInvolvement } from "./involvement.js";
import { reportVisibility, roomFromAddress, setupNotifications, startNotifications } from "./notifications.js";
import { renderRoomActions } from "./directory.js";
import { watchClient } from "./people.js";
import { renderRoomHeader, renderRooms } from "./room-list.js";
import { endChat } from "./signin.js";
import { app, SESSION_KEY, userKey } from "./state.js";
import { refreshUsers } from "./users.js";

export function startChat(session) {
  app.session = session;
  // A notification's link (/?room=<id>) wins over the room of the last visit.
  app.activeRoomId = roomFromAddress() || load(userKey("active_room"), null);
  ui.signin.hidden = true;
  ui.chat.hidden = false;
  ui.meName.textContent = session.user.name || session.user.email_address || "";
  ui.messageList.replaceChildren();

  const client = new CampfireClient({
    token: session.token,
    userId: session.user.id,
    ...tuning(),
  });
  app.client = client;
  window.campfire = client; // for the console: campfire.state, campfire.getMessages(id), ...
  watchClient(client);

  client.on("connectionState", () => {
    renderBanner();
    updateComposer();
    renderTyping();
    renderMembers();
    scheduleRenderMessages(); // pending labels depend on the connection
    if (client.state === STATES.UNAUTHORIZED) {
      endChat(signedOutNotice(client.stateInfo?.reason));
    }
  });
  client.on("ready", ({ user }) => {
    if (user) {
      app.session.user = { ...app.session.user, ...user };
      store(SESSION_KEY, app.session);
      ui.meName.textContent = user.name || "";
    }
    refreshUsers();
    reportVisibility(); // every new connection counts as visible until told otherwise
    if (!app.notificationsStarted) {
      app.notificationsStarted = true;
      startNotifications();
    }
  });
  client.on("synced", () => {
    renderRooms();
    markRead();
  });
  client.on("read", () => renderRooms());
  client.on("rooms", () => {
    if (!app.activeRoomId || !client.getRoom(app.activeRoomId)) {
      const first = client.getRooms().sort((a, b) => (a.name || "").localeCompare(b.name || ""))[0];
      selectRoom(first ? first.id : null);
    } else if (app.openedRoomId !== app.activeRoomId) {
      selectRoom(app.activeRoomId); // the room restored from the last visit
    }
    renderRooms();
    renderRoomHeader();
    renderMembers();
  });
  client.on("roomUpdated", () => {
    renderRooms();
    renderRoomHeader();
    renderInvolvement();
    renderMembers();
  });
  client.on("message", ({ room_id, source }) => {
    if (room_id === app.activeRoomId) {
      noteNewMessage(source);
      scheduleRenderMessages();
      markRead();
    }
    renderRooms();
  });
  client.on("messageUpdated", ({ room_id }) => room_id === app.activeRoomId && scheduleRenderMessages());
  client.on("queue", () => {
    scheduleRenderMessages();
    renderBanner();
  });
  client.on("typingStart", ({ room_id }) => room_id === app.activeRoomId && renderTyping());
  client.on("typingStop", ({ room_id }) => room_id === app.activeRoomId && renderTyping());
  client.on("presence", ({ room_id }) => room_id === app.activeRoomId && renderMembers());
  // A big room's member list, fetched for mentions, fills in the offline group.
  client.on("members", ({ room_id }) => room_id === app.activeRoomId && renderMembers());
  client.on("messageFailed", ({ item, error }) => {
    toast(`Message not sent (${error?.code || "error"}): ${error?.message || ""} — “${item.content.slice(0, 60)}”`);
  });
  client.on("error", (err) => {
    // Typing over its rate is silently paused by the client; a message over the rate is retried.
    if (err?.code === "rate_limit_exceeded" && err.client_message_id) {
      toast(`Slow down: ${err.message || "rate limit"}; your message will be retried shortly.`);
    }
  });

  renderBanner();
  updateComposer();
  client.connect().catch((err) => toast(`Could not load the connection library: ${errorText(err)}`));
}

// Connection tuning for operators and tests, e.g.
//   localStorage.campfire_client_options = '{"maxReconnectAttempts": 3, "backoffBaseMs": 250}'
// Only these numeric options are taken.
const TUNABLE = [
  "maxReconnectAttempts",
  "backoffBaseMs",
  "backoffMaxMs",
  "connectTimeoutMs",
  "ackTimeoutMs",
  "pollIntervalMs",
  "pollAfterFailures",
];

function tuning() {
  const raw = load("campfire_client_options", {});
  const out = {};
  for (const k of TUNABLE) if (Number.isFinite(raw?.[k]) && raw[k] >= 0) out[k] = raw[k];
  return out;
}

export function unreadCount(roomId) {
  return app.client ? app.client.unreadCount(roomId) : 0;
}

/** The active room is read up to its newest message while the page is visible; the server
 * keeps the position, so it follows the person to their other tabs and devices. */
export function markRead() {
  const id = app.activeRoomId;
  if (!id || !app.client || document.visibilityState === "hidden") return;
  app.client.markRead(id);
}

export function selectRoom(roomId) {
  const changed = roomId !== app.openedRoomId;
  // "New messages" divider: above the first message after the read position on opening.
  if (changed) app.dividerSeq = roomId && app.client ? app.client.getLastRead(roomId) : null;
  app.activeRoomId = roomId;
  app.openedRoomId = roomId;
  if (app.session) store(userKey("active_room"), roomId);
  app.client?.setActiveRoom(roomId);
  closeDrawers();
  renderRooms();
  renderRoomHeader();
  renderInvolvement();
  renderRoomActions();
  renderMembers();
  renderTyping();
  updateComposer();
  renderMessages({ forceBottom: changed });
  markRead();
  if (roomId && app.client) {
    const count = app.client.getMessages(roomId).length;
    if (count < 30 && app.client.hasOlder(roomId)) loadOlder(roomId, true);
  }
  if (changed && roomId) ui.input.focus({ preventScroll: true });
}

export function setupChat() {
  setupNotifications((roomId) => app.client?.getRoom(roomId) && selectRoom(roomId));
  setupInvolvement();
  window.addEventListener("online", () => app.client?.retry());
  document.addEventListener("visibilitychange", markRead);
  window.addEventListener("storage", (e) => {
    // Signed out in another tab.
    if (e.key === SESSION_KEY && !e.newValue && app.session) endChat("You signed out in another tab.");
  });
}
