// Campfire chat UI: plain DOM on top of CampfireClient. Everything users write is rendered with
// textContent (never innerHTML).

import { CampfireClient, signIn, STATES } from "./campfire-client.js";

const SESSION_KEY = "campfire:session";
const GROUP_WINDOW_MS = 5 * 60 * 1000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const $ = (id) => document.getElementById(id);

const ui = {
  banner: $("banner"),
  bannerText: $("banner-text"),
  bannerQueue: $("banner-queue"),
  bannerRetry: $("banner-retry"),
  signin: $("signin"),
  signinForm: $("signin-form"),
  signinEmail: $("signin-email"),
  signinPassword: $("signin-password"),
  signinError: $("signin-error"),
  signinNotice: $("signin-notice"),
  chat: $("chat"),
  meName: $("me-name"),
  signout: $("signout"),
  roomList: $("room-list"),
  createRoom: $("create-room"),
  createRoomName: $("create-room-name"),
  createRoomKind: $("create-room-kind"),
  roomName: $("room-name"),
  onlineCount: $("online-count"),
  messages: $("messages"),
  messageList: $("message-list"),
  loadOlder: $("load-older"),
  emptyRoom: $("empty-room"),
  typing: $("typing"),
  composer: $("composer"),
  input: $("composer-input"),
  send: $("composer-send"),
  members: $("members"),
  membersTitle: $("members-title"),
  memberList: $("member-list"),
  addMember: $("add-member"),
  addMemberInput: $("add-member-input"),
  userDirectory: $("user-directory"),
  sidebar: $("sidebar"),
  scrim: $("scrim"),
  toggleSidebar: $("toggle-sidebar"),
  toggleMembers: $("toggle-members"),
  toast: $("toast"),
};

const app = {
  session: null, // {token, user}
  client: null,
  users: new Map(), // id -> user
  activeRoomId: null,
  read: {}, // room id -> last read seq
  bannerTimer: null,
  renderQueued: new Set(),
  usersRefreshAt: 0,
};

// ----- small helpers ------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c != null) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function store(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage unavailable
  }
}

function load(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

function userKey(name) {
  return `campfire:${app.session.user.id}:${name}`;
}

function userName(id) {
  if (app.session?.user?.id === id) return app.session.user.name || "You";
  const u = app.users.get(id);
  if (u?.name) return u.name;
  maybeRefreshUsers();
  return `User ${String(id).slice(0, 8)}`;
}

function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function formatDay(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return d.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

let toastTimer = null;
function toast(text) {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    ui.toast.hidden = true;
  }, 6000);
}

function errorText(err) {
  return err?.message || err?.error || err?.code || "Something went wrong";
}

// ----- sign in and out ----------------------------------------------------------------------

function showSignin(notice) {
  ui.chat.hidden = true;
  ui.banner.hidden = true;
  ui.signin.hidden = false;
  ui.signinNotice.hidden = !notice;
  ui.signinNotice.textContent = notice || "";
  ui.signinEmail.focus();
  document.title = "Campfire";
}

ui.signinForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  ui.signinError.hidden = true;
  const submit = $("signin-submit");
  submit.disabled = true;
  try {
    const session = await signIn({
      email_address: ui.signinEmail.value.trim(),
      password: ui.signinPassword.value,
    });
    ui.signinPassword.value = "";
    store(SESSION_KEY, { token: session.token, user: session.user });
    startChat({ token: session.token, user: session.user });
  } catch (err) {
    ui.signinError.textContent = err.status === 401 ? "Wrong email or password." : `Could not sign in: ${errorText(err)}`;
    ui.signinError.hidden = false;
  } finally {
    submit.disabled = false;
  }
});

ui.signout.addEventListener("click", async () => {
  const pending = app.client?.getPending().length || 0;
  if (pending && !window.confirm(`${pending} message(s) have not been sent yet and will be lost. Sign out anyway?`)) return;
  const client = app.client;
  try {
    await client?.signOut();
  } catch {
    // signed out locally anyway
  }
  endChat();
  showSignin();
});

function endChat(notice) {
  if (app.client) {
    app.client.close();
    app.client = null;
  }
  store(SESSION_KEY, null);
  app.session = null;
  app.users.clear();
  app.activeRoomId = null;
  app.openedRoomId = null;
  ui.roomList.replaceChildren();
  ui.messageList.replaceChildren();
  ui.memberList.replaceChildren();
  if (notice) showSignin(notice);
}

// ----- chat ---------------------------------------------------------------------------------

function startChat(session) {
  app.session = session;
  app.read = load(userKey("read"), {});
  app.activeRoomId = load(userKey("active_room"), null);
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

  client.on("connectionState", () => {
    renderBanner();
    updateComposer();
    renderTyping();
    renderMembers();
    scheduleRenderMessages(); // pending labels depend on the connection
    if (client.state === STATES.UNAUTHORIZED) {
      endChat("Your session has ended. Please sign in again.");
    }
  });
  client.on("ready", ({ user }) => {
    if (user) {
      app.session.user = { ...app.session.user, ...user };
      store(SESSION_KEY, app.session);
      ui.meName.textContent = user.name || "";
    }
    refreshUsers();
  });
  client.on("synced", ({ rooms }) => {
    // First sign-in in this browser: what was there before is not "unread".
    if (!Object.keys(app.read).length) {
      for (const r of rooms) app.read[r.room_id] = r.last_seq;
      saveRead();
    }
    renderRooms();
    markRead();
  });
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
    renderMembers();
  });
  client.on("message", ({ room_id }) => {
    if (room_id === app.activeRoomId) {
      scheduleRenderMessages();
      markRead();
    }
    renderRooms();
  });
  client.on("queue", () => {
    scheduleRenderMessages();
    renderBanner();
  });
  client.on("typingStart", ({ room_id }) => room_id === app.activeRoomId && renderTyping());
  client.on("typingStop", ({ room_id }) => room_id === app.activeRoomId && renderTyping());
  client.on("presence", ({ room_id }) => room_id === app.activeRoomId && renderMembers());
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

function saveRead() {
  if (app.session) store(userKey("read"), app.read);
}

function unreadCount(roomId) {
  const last = app.client.getLastSeq(roomId);
  const read = app.read[roomId] ?? 0;
  return Math.max(0, last - read);
}

function markRead() {
  const id = app.activeRoomId;
  if (!id || !app.client || document.visibilityState === "hidden") return;
  const last = app.client.getLastSeq(id);
  if ((app.read[id] ?? 0) < last) {
    app.read[id] = last;
    saveRead();
    renderRooms();
  }
}

function selectRoom(roomId) {
  const changed = roomId !== app.openedRoomId;
  app.activeRoomId = roomId;
  app.openedRoomId = roomId;
  if (app.session) store(userKey("active_room"), roomId);
  app.client?.setActiveRoom(roomId);
  closeDrawers();
  renderRooms();
  renderRoomHeader();
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

async function loadOlder(roomId, toBottom) {
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

ui.loadOlder.addEventListener("click", () => app.activeRoomId && loadOlder(app.activeRoomId, false));

// ----- rendering --------------------------------------------------------------------------------

function renderRooms() {
  const client = app.client;
  if (!client) return;
  const rooms = client.getRooms().sort((a, b) => (a.name || "").localeCompare(b.name || ""));
  let totalUnread = 0;
  const items = rooms.map((room) => {
    const unread = room.id === app.activeRoomId ? 0 : unreadCount(room.id);
    totalUnread += unread;
    const li = el(
      "li",
      {
        class: `room-item${room.id === app.activeRoomId ? " active" : ""}${unread ? " has-unread" : ""}`,
        dataset: { roomId: room.id },
      },
      el(
        "button",
        { type: "button", class: "room-button", onclick: () => selectRoom(room.id) },
        el("span", { class: "room-kind", text: room.kind === "open" ? "#" : room.kind === "direct" ? "@" : "🔒" }),
        el("span", { class: "room-title", text: room.name || "(unnamed)" }),
        unread ? el("span", { class: "unread", text: unread > 99 ? "99+" : String(unread), "aria-label": `${unread} unread` }) : null,
      ),
    );
    return li;
  });
  ui.roomList.replaceChildren(...items);
  if (!rooms.length) ui.roomList.append(el("li", { class: "empty", text: "No rooms yet: create one below." }));
  document.title = totalUnread ? `(${totalUnread}) Campfire` : "Campfire";
}

function renderRoomHeader() {
  const room = app.activeRoomId && app.client?.getRoom(app.activeRoomId);
  ui.roomName.textContent = room ? room.name || "(unnamed)" : "No room selected";
  ui.addMember.hidden = !room || room.kind === "direct";
}

function scheduleRenderMessages() {
  if (app.renderPending) return;
  app.renderPending = true;
  requestAnimationFrame(() => {
    app.renderPending = false;
    renderMessages();
  });
}

function renderMessages({ forceBottom = false } = {}) {
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

function renderTyping() {
  const client = app.client;
  const roomId = app.activeRoomId;
  if (!client || !roomId || client.polling) {
    ui.typing.textContent = "";
    return;
  }
  const names = client.getTyping(roomId).map(userName);
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  ui.typing.textContent = text;
}

function renderMembers() {
  const client = app.client;
  const roomId = app.activeRoomId;
  const room = roomId && client?.getRoom(roomId);
  if (!room) {
    ui.memberList.replaceChildren();
    ui.onlineCount.textContent = "0";
    return;
  }
  const polling = client.polling;
  const online = new Set(client.getOnline(roomId));
  const recent = new Set(client.getRecentlyActive(roomId));
  const active = polling ? new Set([...recent, ...online]) : online;
  const ids = Array.isArray(room.member_ids) && room.member_ids.length ? [...new Set([...room.member_ids, ...online])] : [...active];
  ids.sort((a, b) => Number(active.has(b)) - Number(active.has(a)) || userName(a).localeCompare(userName(b)));
  ui.membersTitle.textContent = polling ? "Recently active" : "Online";
  ui.onlineCount.textContent = String(active.size);
  ui.memberList.replaceChildren(
    ...ids.map((id) => {
      const on = active.has(id);
      const state = on ? (polling ? "recently active" : "online") : "offline";
      return el(
        "li",
        { class: `member ${on ? (polling ? "recent" : "online") : "offline"}`, dataset: { userId: id }, title: state },
        el("span", { class: "presence-dot", "aria-hidden": "true" }),
        el("span", { class: "member-name", text: userName(id) }),
        el("span", { class: "visually-hidden", text: ` (${state})` }),
      );
    }),
  );
}

function renderBanner() {
  const client = app.client;
  clearTimeout(app.bannerTimer);
  if (!client) {
    ui.banner.hidden = true;
    return;
  }
  const info = client.stateInfo || { state: client.state };
  const state = client.state;
  let text = "";
  let retry = false;
  switch (state) {
    case STATES.IDLE:
    case STATES.CONNECTING:
      text = info.attempt ? `Connecting… (attempt ${info.attempt + 1})` : "Connecting…";
      break;
    case STATES.SYNCING:
      text = "Catching up…";
      break;
    case STATES.CONNECTED:
      text = "Up to date";
      break;
    case STATES.RECONNECTING: {
      const secs = Math.max(0, Math.ceil((info.retry_at - Date.now()) / 1000));
      text = `Connection lost. Reconnecting in ${secs} s…`;
      retry = true;
      app.bannerTimer = setTimeout(renderBanner, 1000 - (Date.now() % 1000) + 5);
      break;
    }
    case STATES.OFFLINE:
      text = "Offline. Messages you write are kept and sent when you are back.";
      retry = true;
      break;
    case STATES.POLLING:
      text = "Live connection unavailable: checking for new messages every few seconds.";
      retry = true;
      break;
    case STATES.UNAUTHORIZED:
      text = "Signed out.";
      break;
    case STATES.CLOSED:
      text = "Disconnected.";
      break;
    default:
      text = state;
  }
  ui.banner.hidden = false;
  ui.banner.dataset.state = state;
  ui.bannerText.textContent = text;
  ui.bannerRetry.hidden = !retry;
  ui.bannerRetry.textContent = state === STATES.OFFLINE ? "Retry" : "Retry now";
  const queued = client.getPending().filter((p) => p.status === "queued").length;
  ui.bannerQueue.hidden = !queued || state === STATES.CONNECTED;
  ui.bannerQueue.textContent = queued ? `${queued} message${queued > 1 ? "s" : ""} waiting to be sent.` : "";
}

ui.bannerRetry.addEventListener("click", () => app.client?.retry());

function updateComposer() {
  const enabled = !!(app.client && app.activeRoomId);
  ui.input.disabled = !enabled;
  ui.send.disabled = !enabled;
}

// ----- users ------------------------------------------------------------------------------------

async function refreshUsers() {
  if (!app.client) return;
  app.usersRefreshAt = Date.now();
  try {
    const users = await app.client.listUsers();
    for (const u of users) app.users.set(u.id, u);
    ui.userDirectory.replaceChildren(
      ...users
        .filter((u) => u.id !== app.session?.user?.id)
        .map((u) => el("option", { value: u.email_address || u.id, text: u.name })),
    );
    renderMembers();
    renderTyping();
    scheduleRenderMessages();
  } catch {
    // keep the names we have
  }
}

function maybeRefreshUsers() {
  if (Date.now() - app.usersRefreshAt > 30000 && app.client?.connected) {
    app.usersRefreshAt = Date.now();
    setTimeout(refreshUsers, 0);
  }
}

// ----- forms ------------------------------------------------------------------------------------

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  sendComposer();
});

ui.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    sendComposer();
  }
});

ui.input.addEventListener("input", () => {
  autoGrow();
  if (app.activeRoomId && ui.input.value.trim()) app.client?.typing(app.activeRoomId);
  else if (app.activeRoomId) app.client?.stopTyping(app.activeRoomId);
});

function autoGrow() {
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 200)}px`;
}

function sendComposer() {
  const content = ui.input.value;
  if (!content.trim() || !app.activeRoomId || !app.client) return;
  if ([...content].length > 10000) {
    toast("A message can be at most 10,000 characters.");
    return;
  }
  app.client.sendMessage(app.activeRoomId, content);
  ui.input.value = "";
  autoGrow();
  renderMessages({ forceBottom: true });
}

ui.createRoom.addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = ui.createRoomName.value.trim();
  if (!name) return;
  try {
    const room = await app.client.createRoom({ name, kind: ui.createRoomKind.value });
    ui.createRoomName.value = "";
    if (room) selectRoom(room.id);
  } catch (err) {
    toast(`Could not create the room: ${errorText(err)}`);
  }
});

ui.addMember.addEventListener("submit", async (e) => {
  e.preventDefault();
  const roomId = app.activeRoomId;
  const value = ui.addMemberInput.value.trim();
  if (!roomId || !value) return;
  let userId = null;
  if (UUID_RE.test(value)) userId = value;
  else {
    if (!app.users.size) await refreshUsers();
    const found = [...app.users.values()].find(
      (u) => (u.email_address || "").toLowerCase() === value.toLowerCase() || u.name === value,
    );
    userId = found?.id || null;
  }
  if (!userId) {
    toast(`No user “${value}”. Enter their user id or email address.`);
    return;
  }
  try {
    await app.client.addMember(roomId, userId);
    ui.addMemberInput.value = "";
    toast(`${userName(userId)} added.`);
    renderMembers();
  } catch (err) {
    toast(`Could not add the member: ${errorText(err)}`);
  }
});

// ----- phone layout: drawers ------------------------------------------------------------------

function closeDrawers() {
  ui.chat.classList.remove("show-sidebar", "show-members");
  ui.scrim.hidden = true;
}

ui.toggleSidebar.addEventListener("click", () => {
  const open = !ui.chat.classList.contains("show-sidebar");
  closeDrawers();
  ui.chat.classList.toggle("show-sidebar", open);
  ui.scrim.hidden = !open;
});

ui.toggleMembers.addEventListener("click", () => {
  const open = !ui.chat.classList.contains("show-members");
  closeDrawers();
  ui.chat.classList.toggle("show-members", open);
  ui.scrim.hidden = !open;
});

ui.scrim.addEventListener("click", closeDrawers);

// ----- page lifecycle -----------------------------------------------------------------------------

window.addEventListener("online", () => app.client?.retry());
document.addEventListener("visibilitychange", markRead);
window.addEventListener("storage", (e) => {
  // Signed out in another tab.
  if (e.key === SESSION_KEY && !e.newValue && app.session) endChat("You signed out in another tab.");
});

const saved = load(SESSION_KEY, null);
if (saved?.token && saved?.user?.id) startChat(saved);
else showSignin();
