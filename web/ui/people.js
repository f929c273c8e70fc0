// Wires the rooms-and-people views into the page: the sidebar's buttons (browse rooms, people,
// profile, admin), UserUpdated from the client, and the room header's actions.

import { el, store, ui } from "./dom.js";
import { openAdmin } from "./admin.js";
import { openPeople, openRoomDirectory, renderRoomActions, setupDirectory } from "./directory.js";
import { renderMembers } from "./members.js";
import { scheduleRenderMessages } from "./message-list.js";
import { openProfile } from "./profile.js";
import { app, SESSION_KEY } from "./state.js";
import { book } from "./users.js";

function renderAdminButton() {
  const button = document.getElementById("open-admin");
  if (button) button.hidden = app.session?.user?.role !== "admin";
}

/** Called by startChat with each new client. */
export function watchClient(client) {
  client.on("userUpdated", ({ user }) => {
    book.users.set(user.id, { ...(book.get(user.id) || {}), ...user });
    if (user.id === app.session?.user?.id) {
      app.session.user = { ...app.session.user, ...user };
      store(SESSION_KEY, app.session);
      ui.meName.textContent = user.name;
      renderAdminButton();
    }
    renderMembers();
    scheduleRenderMessages();
  });
  client.on("ready", renderAdminButton);
  for (const name of ["rooms", "roomUpdated"]) client.on(name, renderRoomActions);
  renderAdminButton();
}

export function setupPeople() {
  setupDirectory();
  const nav = el(
    "nav",
    { class: "sidebar-nav", "aria-label": "Rooms and people" },
    el("button", { id: "open-directory", type: "button", class: "link-button", text: "Browse rooms", onclick: openRoomDirectory }),
    el("button", { id: "open-people", type: "button", class: "link-button", text: "People", onclick: openPeople }),
    el("button", { id: "open-profile", type: "button", class: "link-button", text: "Profile", onclick: openProfile }),
    el("button", { id: "open-admin", type: "button", class: "link-button", text: "Admin", hidden: true, onclick: openAdmin }),
  );
  ui.roomList.previousElementSibling.before(nav);
  document.addEventListener("campfire:room-selected", renderRoomActions);
}
