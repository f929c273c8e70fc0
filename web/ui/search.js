// Search: a box in the sidebar, results grouped by room, and a jump to a result in its room
// with the history around it loaded.

import { selectRoom } from "./chat.js";
import { el, errorText, formatTime, ui } from "./dom.js";
import { renderMessages } from "./message-list.js";
import { app } from "./state.js";
import { userName } from "./users.js";

const $ = (id) => document.getElementById(id);
const search = {
  form: $("search-form"),
  input: $("search-input"),
  results: $("search-results"),
  status: $("search-status"),
  list: $("search-list"),
  close: $("search-close"),
};

function snippet(text) {
  return text.length > 160 ? `${text.slice(0, 157)}…` : text || "(a file)";
}

async function run() {
  const q = search.input.value.trim();
  if (!q || !app.client) return;
  search.results.hidden = false;
  search.status.textContent = "Searching…";
  search.list.replaceChildren();
  let messages;
  try {
    messages = await app.client.search(q, { limit: 50 });
  } catch (err) {
    search.status.textContent = `Search failed: ${errorText(err)}`;
    return;
  }
  search.status.textContent = messages.length
    ? `${messages.length} result${messages.length === 1 ? "" : "s"} for “${q}”`
    : `Nothing found for “${q}”`;
  const groups = new Map();
  for (const m of messages) {
    if (!groups.has(m.room.id)) groups.set(m.room.id, { room: m.room, items: [] });
    groups.get(m.room.id).items.push(m);
  }
  search.list.replaceChildren(
    ...[...groups.values()].map(({ room, items }) =>
      el(
        "li",
        { class: "search-group" },
        el("h3", { class: "search-room", text: room.kind === "direct" ? "Direct message" : room.name }),
        el(
          "ul",
          {},
          ...items.map((m) =>
            el(
              "li",
              {},
              el(
                "button",
                { type: "button", class: "search-hit", dataset: { id: m.id }, onclick: () => jumpTo(m) },
                el("span", { class: "search-meta", text: `${userName(m.creator_id)} · ${formatTime(m.created_at)}` }),
                el("span", { class: "search-text", text: snippet(m.content) }),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

/** Open the result's room with the history around it, and show the message. */
export async function jumpTo(m) {
  const roomId = m.room.id;
  if (!app.client.getRoom(roomId)) {
    try {
      await app.client.joinRoom(roomId);
    } catch (err) {
      search.status.textContent = `Cannot open that room: ${errorText(err)}`;
      return;
    }
  }
  try {
    // Loaded before the room opens, so that opening it does not page history on its own.
    await app.client.loadAround(roomId, m.seq);
  } catch (err) {
    search.status.textContent = `Could not load that part of the room: ${errorText(err)}`;
    return;
  }
  app.foundMessageId = m.id; // message-list marks it, on every render
  selectRoom(roomId);
  if (app.activeRoomId !== roomId) return;
  renderMessages();
  const node = ui.messageList.querySelector(`li[data-id="${CSS.escape(m.id)}"]`);
  node?.scrollIntoView({ block: "center" });
}

export function setupSearch() {
  search.form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
  search.close.addEventListener("click", () => {
    search.results.hidden = true;
    search.input.value = "";
  });
}
