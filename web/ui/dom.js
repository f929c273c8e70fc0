// DOM helpers shared by the views: the page's elements, element building, local storage, dates,
// the toast. Everything users write is rendered with textContent (never innerHTML).

export const $ = (id) => document.getElementById(id);

export const ui = {
  banner: $("banner"),
  bannerText: $("banner-text"),
  bannerLive: $("banner-live"),
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
  newMessages: $("new-messages"),
  newMessagesCount: $("new-messages-count"),
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

export function el(tag, props = {}, ...children) {
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

export function store(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage unavailable
  }
}

export function load(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function formatDay(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return d.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

let toastTimer = null;
export function toast(text) {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    ui.toast.hidden = true;
  }, 6000);
}

export function errorText(err) {
  return err?.message || err?.error || err?.code || "Something went wrong";
}
