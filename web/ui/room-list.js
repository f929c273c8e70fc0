// The room list (with unread counts), the room header and the "New room" form.

import { el, errorText, toast, ui } from "./dom.js";
import { selectRoom, unreadCount } from "./chat.js";
import { app } from "./state.js";

export function renderRooms() {
  const client = app.client;
  if (!client) return;
  const all = client.getRooms().sort((a, b) => (a.name || "").localeCompare(b.name || ""));
  // Invisible rooms are kept but listed apart, under "Hidden rooms" (PROTOCOL.md 9.2).
  const rooms = all.filter((room) => room.involvement !== "invisible" || room.id === app.activeRoomId);
  const hidden = all.filter((room) => !rooms.includes(room));
  let totalUnread = 0;
  const items = rooms.map((room) => {
    const reading = room.id === app.activeRoomId && document.visibilityState !== "hidden";
    const unread = reading ? 0 : unreadCount(room.id);
    const mentioned = !reading && client.isMentioned(room.id);
    if (room.involvement !== "invisible") totalUnread += unread;
    const li = el(
      "li",
      {
        class: `room-item${room.id === app.activeRoomId ? " active" : ""}${unread ? " has-unread" : ""}`,
        dataset: { roomId: room.id },
      },
      el(
        "button",
        {
          type: "button",
          class: "room-button",
          onclick: () => selectRoom(room.id),
          "aria-current": room.id === app.activeRoomId ? "page" : null,
        },
        el("span", { class: "room-kind", text: room.kind === "open" ? "#" : room.kind === "direct" ? "@" : "🔒" }),
        el("span", { class: "room-title", text: room.name || "(unnamed)" }),
        mentioned ? el("span", { class: "mention-badge", text: "@", title: "You were mentioned", "aria-label": "mentioned" }) : null,
        unread ? el("span", { class: "unread", text: unread > 99 ? "99+" : String(unread), "aria-label": `${unread} unread` }) : null,
      ),
    );
    return li;
  });
  ui.roomList.replaceChildren(...items);
  renderHiddenRooms(hidden);
  if (!rooms.length) ui.roomList.append(el("li", { class: "empty", text: "No rooms yet: create one below." }));
  document.title = totalUnread ? `(${totalUnread}) Campfire` : "Campfire";
}

function renderHiddenRooms(hidden) {
  const box = document.getElementById("hidden-rooms");
  const list = document.getElementById("hidden-room-list");
  if (!box || !list) return;
  box.hidden = hidden.length === 0;
  list.replaceChildren(
    ...hidden.map((room) =>
      el(
        "li",
        { class: "room-item hidden-room", dataset: { roomId: room.id } },
        el(
          "button",
          { type: "button", class: "room-button", onclick: () => selectRoom(room.id) },
          el("span", { class: "room-title", text: room.name || "(unnamed)" }),
        ),
      ),
    ),
  );
}

export function renderRoomHeader() {
  const room = app.activeRoomId && app.client?.getRoom(app.activeRoomId);
  ui.roomName.textContent = room ? room.name || "(unnamed)" : "No room selected";
  ui.addMember.hidden = !room || room.kind === "direct";
}

export function setupRoomList() {
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
}
