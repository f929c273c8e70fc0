// User names: the directory from GET /api/users, fetched at sign-in and as soon as an unknown id
// shows up (ui/user-book.js).

import { renderTyping } from "./composer.js";
import { el, ui } from "./dom.js";
import { renderMembers } from "./members.js";
import { scheduleRenderMessages } from "./message-list.js";
import { app } from "./state.js";
import { UserBook } from "./user-book.js";

export const book = new UserBook({
  fetchUsers: () => (app.client ? app.client.listUsers() : Promise.resolve([])),
  onChange: (users) => {
    ui.userDirectory.replaceChildren(
      ...users
        .filter((u) => u.id !== app.session?.user?.id)
        .map((u) => el("option", { value: u.email_address || u.id, text: u.name })),
    );
    renderMembers();
    renderTyping();
    scheduleRenderMessages();
  },
});

export function userName(id) {
  if (app.session?.user?.id === id) return app.session.user.name || "You";
  return book.name(id) ?? `User ${String(id).slice(0, 8)}`;
}

export function refreshUsers() {
  return book.refresh();
}

/** Users known by id (the "Add member" form looks them up by email address or name). */
export function knownUsers() {
  return [...book.users.values()];
}
