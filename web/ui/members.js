// The members panel: who is in the room, online first, and the "Add member" form.

import { avatar, messagePerson } from "./directory.js";
import { el, errorText, toast, ui } from "./dom.js";
import { app } from "./state.js";
import { knownUsers, refreshUsers, userName } from "./users.js";

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
  // A big room comes with `member_count` and no `member_ids` (CAMPFIRE_ROOM_MEMBER_IDS_MAX):
  // the panel then shows who is online (or recently active) and counts the rest, as big chat
  // services do for huge channels, rather than fetching thousands of names on every change.
  // A list fetched for mentions (client.loadMemberIds) is used when there is one.
  const listed = client.getMemberIds ? client.getMemberIds(roomId) : room.member_ids;
  const ids = Array.isArray(listed) && listed.length ? [...new Set([...listed, ...online])] : [...active];
  const total = Array.isArray(listed) ? ids.length : Math.max(client.memberCount?.(roomId) ?? 0, ids.length);
  const name = (id) => userName(id);
  const byName = (a, b) => name(a).localeCompare(name(b));
  const on = ids.filter((id) => active.has(id)).sort(byName);
  const off = ids.filter((id) => !active.has(id)).sort(byName);
  const unlisted = total - on.length - off.length;
  ui.membersTitle.textContent = `Members (${total})`;
  ui.onlineCount.textContent = String(active.size);
  ui.toggleMembers.setAttribute("aria-label", `Members: ${on.length} ${polling ? "recently active" : "online"}`);
  const onState = polling ? "recent" : "online";
  const groups = [
    { title: polling ? "Recently active" : "Online", ids: on, cls: onState, state: polling ? "recently active" : "online" },
    { title: polling ? "Not seen recently" : "Offline", ids: off, cls: "offline", state: "offline" },
  ];
  const nodes = [];
  for (const g of groups) {
    if (!g.ids.length) continue;
    nodes.push(el("li", { class: "member-group", dataset: { group: g.cls } }, `${g.title} — ${g.ids.length}`));
    for (const id of g.ids) {
      nodes.push(
        el(
          "li",
          { class: `member ${g.cls}${id === app.session?.user?.id ? " me" : ""}`, dataset: { userId: id }, title: g.state },
          el("span", { class: "presence-dot", "aria-hidden": "true" }),
          avatar(id),
          id === app.session?.user?.id
            ? el("span", { class: "member-name", text: name(id) })
            : el("button", {
                type: "button",
                class: "member-name link-button",
                text: name(id),
                title: `Message ${name(id)}`,
                onclick: () => messagePerson(id),
              }),
          el("span", { class: "visually-hidden", text: ` (${g.state})` }),
        ),
      );
    }
  }
  if (unlisted > 0) {
    nodes.push(
      el("li", { class: "member-group", dataset: { group: "unlisted" } }, `${unlisted} more ${unlisted === 1 ? "member" : "members"}`),
    );
  }
  ui.memberList.replaceChildren(...nodes);
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
      if (!knownUsers().length) await refreshUsers();
      const found = knownUsers().find(
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
