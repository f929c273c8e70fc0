// The members panel: who is in the room, online first, and the "Add member" form.

import { el, errorText, toast, ui } from "./dom.js";
import { app } from "./state.js";
import { refreshUsers, userName } from "./users.js";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function renderMembers() {
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

export function setupMembers() {
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
}
