// User names: the directory from GET /api/users, refreshed when an unknown id shows up.

import { el, ui } from "./dom.js";
import { renderMembers } from "./members.js";
import { scheduleRenderMessages } from "./message-list.js";
import { renderTyping } from "./composer.js";
import { app } from "./state.js";

export function userName(id) {
  if (app.session?.user?.id === id) return app.session.user.name || "You";
  const u = app.users.get(id);
  if (u?.name) return u.name;
  maybeRefreshUsers();
  return `User ${String(id).slice(0, 8)}`;
}

export async function refreshUsers() {
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

export function maybeRefreshUsers() {
  if (Date.now() - app.usersRefreshAt > 30000 && app.client?.connected) {
    app.usersRefreshAt = Date.now();
    setTimeout(refreshUsers, 0);
  }
}
