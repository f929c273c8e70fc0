// Finding rooms and people: the open-room directory with Join, the people list from which a
// direct conversation starts, and deleting a room (its creator or an admin).

import { el, errorText, toast, ui } from "./dom.js";
import { selectRoom } from "./chat.js";
import { openDialog } from "./dialog.js";
import { app } from "./state.js";
import { book, refreshUsers, userName } from "./users.js";

export function avatar(userOrId, size = "small") {
  const user = typeof userOrId === "string" ? book.get(userOrId) || (app.session?.user?.id === userOrId ? app.session.user : null) : userOrId;
  const src = user && app.client?.avatarUrl(user);
  return src ? el("img", { class: `avatar avatar-${size}`, src, alt: "", loading: "lazy" }) : el("span", { class: `avatar avatar-${size}` });
}

export async function openRoomDirectory() {
  const { body, close } = openDialog("Browse rooms", "room-directory");
  body.append(el("p", { class: "muted", text: "Loading…" }));
  let rooms;
  try {
    rooms = await app.client.openRooms();
  } catch (err) {
    body.replaceChildren(el("p", { class: "error", text: `Could not load the rooms: ${errorText(err)}` }));
    return;
  }
  if (!rooms.length) {
    body.replaceChildren(el("p", { class: "muted", text: "No open rooms yet: create one in the sidebar." }));
    return;
  }
  body.replaceChildren(
    el(
      "ul",
      { class: "directory-list" },
      ...rooms.map((room) =>
        el(
          "li",
          { class: "directory-item", dataset: { roomId: room.id } },
          el("span", { class: "room-kind", text: "#" }),
          el("span", { class: "directory-name", text: room.name }),
          el("span", { class: "muted", text: `${room.member_count} ${room.member_count === 1 ? "member" : "members"}` }),
          room.member
            ? el("button", { type: "button", class: "directory-open", text: "Open", onclick: () => { close(); selectRoom(room.id); } })
            : el("button", {
                type: "button",
                class: "primary directory-join",
                text: "Join",
                onclick: async (e) => {
                  e.target.disabled = true;
                  try {
                    await app.client.joinRoom(room.id);
                    close();
                    selectRoom(room.id);
                  } catch (err) {
                    e.target.disabled = false;
                    toast(`Could not join: ${errorText(err)}`);
                  }
                },
              }),
        ),
      ),
    ),
  );
}

/** Open (or make) the direct conversation with one person. */
export async function messagePerson(userId) {
  if (!app.client || !userId) return;
  try {
    const me = app.session.user;
    const name = userId === me.id ? `${me.name} (notes)` : `${me.name} & ${userName(userId)}`;
    const room = await app.client.startDirect([userId], name);
    if (room) selectRoom(room.id);
  } catch (err) {
    toast(`Could not start the conversation: ${errorText(err)}`);
  }
}

export async function openPeople() {
  const { body, close } = openDialog("People", "people-dialog");
  await refreshUsers();
  const me = app.session?.user?.id;
  const people = [...book.users.values()].filter((u) => u.id !== me).sort((a, b) => a.name.localeCompare(b.name));
  body.replaceChildren(
    people.length
      ? el(
          "ul",
          { class: "directory-list" },
          ...people.map((u) =>
            el(
              "li",
              { class: "directory-item", dataset: { userId: u.id } },
              avatar(u),
              el("span", { class: "directory-name", text: u.name }),
              u.role !== "member" ? el("span", { class: "muted", text: u.role }) : null,
              el("button", {
                type: "button",
                class: "primary person-message",
                text: "Message",
                onclick: () => {
                  close();
                  messagePerson(u.id);
                },
              }),
            ),
          ),
        )
      : el("p", { class: "muted", text: "Nobody else is here yet. An admin can share the join link." }),
  );
}

/** The room header's "Delete room" button: shown to the creator and admins, not for direct rooms. */
export function renderRoomActions() {
  const room = app.activeRoomId && app.client?.getRoom(app.activeRoomId);
  const me = app.session?.user;
  const button = document.getElementById("delete-room");
  if (!button) return;
  button.hidden = !room || room.kind === "direct" || !(me?.role === "admin" || room.creator_id === me?.id);
}

export function setupDirectory() {
  const header = ui.roomName.parentElement;
  const del = el("button", {
    id: "delete-room",
    type: "button",
    class: "link-button",
    text: "Delete room",
    hidden: true,
    onclick: async () => {
      const room = app.client?.getRoom(app.activeRoomId);
      if (!room || !window.confirm(`Delete “${room.name}” and all its messages for everyone?`)) return;
      try {
        await app.client.deleteRoom(room.id);
        toast(`“${room.name}” was deleted.`);
      } catch (err) {
        toast(`Could not delete the room: ${errorText(err)}`);
      }
    },
  });
  header.insertBefore(del, ui.toggleMembers);
}
