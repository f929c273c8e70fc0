// "@" autocomplete in the composer over the active room's members; the people picked (and still
// named in the text when it is sent) become the message's mention_ids (PROTOCOL.md 9.1).

import { el, ui } from "./dom.js";
import { app } from "./state.js";
import { userName } from "./users.js";

const MAX_SUGGESTIONS = 8;
const picked = new Map(); // user id -> the name inserted for them
let list = null;
let options = []; // [{id, name}]
let active = 0;
let token = null; // {start, end} of the "@query" being completed

function members() {
  const client = app.client;
  const roomId = app.activeRoomId;
  const room = client?.getRoom?.(roomId);
  const me = app.session?.user?.id;
  let ids = client?.getMemberIds ? client.getMemberIds(roomId) : room?.member_ids;
  if (!ids && room) {
    // A big room came by count only: fetch its members once (GET /api/rooms/{id}), offer
    // those online meanwhile, and complete again when the list is in.
    client.loadMemberIds?.(roomId).then(
      () => token && app.activeRoomId === roomId && update(),
      () => {},
    );
    ids = client.getOnline?.(roomId) || [];
  }
  return (ids || []).filter((id) => id !== me).map((id) => ({ id, name: userName(id) }));
}

function close() {
  options = [];
  token = null;
  if (list) {
    list.hidden = true;
    list.replaceChildren();
  }
  ui.input.removeAttribute("aria-activedescendant");
}

function update() {
  const caret = ui.input.selectionStart ?? ui.input.value.length;
  const before = ui.input.value.slice(0, caret);
  const match = /(^|\s)@([^\s@]{0,30})$/.exec(before);
  if (!match || !app.activeRoomId) return close();
  const query = match[2].toLowerCase();
  options = members()
    .filter((u) => u.name.toLowerCase().split(/\s+/).some((w) => w.startsWith(query)) || u.name.toLowerCase().startsWith(query))
    .slice(0, MAX_SUGGESTIONS);
  if (!options.length) return close();
  token = { start: caret - match[2].length - 1, end: caret };
  active = Math.min(active, options.length - 1);
  render();
}

function render() {
  list.replaceChildren(
    ...options.map((u, i) =>
      el("li", {
        id: `mention-option-${i}`,
        role: "option",
        class: `mention-option${i === active ? " active" : ""}`,
        "aria-selected": i === active ? "true" : "false",
        dataset: { userId: u.id },
        text: u.name,
        onmousedown: (e) => {
          e.preventDefault(); // keep the focus in the composer
          pick(i);
        },
      }),
    ),
  );
  list.hidden = false;
  ui.input.setAttribute("aria-activedescendant", `mention-option-${active}`);
}

function pick(i) {
  const user = options[i];
  if (!user || !token) return close();
  const value = ui.input.value;
  const insert = `@${user.name} `;
  ui.input.value = value.slice(0, token.start) + insert + value.slice(token.end);
  const caret = token.start + insert.length;
  ui.input.setSelectionRange(caret, caret);
  picked.set(user.id, user.name);
  close();
  ui.input.dispatchEvent(new Event("input"));
}

/** The ids of the people picked whose @name is still in `content`; forgets the picks. */
export function takeMentions(content) {
  const ids = [...picked].filter(([, name]) => content.includes(`@${name}`)).map(([id]) => id);
  picked.clear();
  close();
  return ids;
}

export function setupMentions() {
  list = el("ul", { id: "mention-suggestions", class: "mention-suggestions", role: "listbox", "aria-label": "People to mention", hidden: true });
  ui.composer.parentNode.insertBefore(list, ui.composer);
  ui.input.setAttribute("aria-controls", "mention-suggestions");
  ui.input.addEventListener("input", update);
  ui.input.addEventListener("click", update);
  ui.input.addEventListener("blur", () => setTimeout(close, 150));
  // Capture: runs before the composer's own Enter handler, which would send the message.
  ui.input.addEventListener(
    "keydown",
    (e) => {
      if (!options.length) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        active = (active + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
        render();
      } else if (e.key === "Enter" || e.key === "Tab") {
        pick(active);
      } else if (e.key === "Escape") {
        close();
      } else {
        return;
      }
      e.preventDefault();
      e.stopImmediatePropagation();
    },
    true,
  );
}
