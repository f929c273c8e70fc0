// What can be done to a sent message (PROTOCOL.md 9.1): inline edit (Escape cancels), delete with
// confirmation (a "message deleted" line stays), boosts with a small emoji picker or free text,
// counts with who boosted on hover, and mentions of you highlighted.

import { el, errorText, toast } from "./dom.js";
import { scheduleRenderMessages } from "./message-list.js";
import { app } from "./state.js";
import { userName } from "./users.js";

const PICKS = ["👍", "❤️", "😂", "🎉", "👀", "🙏"];
const MAX_BOOST = 16;

/** Add the lifecycle parts to a rendered message `<li>` (its content is `.message-content`). */
export function decorateMessage(node, m) {
  const me = app.session.user;
  const content = node.querySelector(".message-content");
  if (m.deleted) {
    node.classList.add("deleted");
    content.replaceChildren(el("span", { class: "tombstone", text: "message deleted" }));
    return node;
  }
  if ((m.mention_ids || []).includes(me.id)) node.classList.add("mentions-me");
  if (app.editing?.id === m.id) {
    content.replaceWith(editor(m));
    return node;
  }
  if (m.edited_at) {
    content.after(el("span", { class: "edited", title: new Date(m.edited_at).toLocaleString(), text: "(edited)" }));
  }
  const boosts = boostRow(m);
  if (boosts) node.append(boosts);
  node.append(actions(m, me));
  return node;
}

function actions(m, me) {
  const mine = m.creator_id === me.id;
  const bar = el("div", { class: "message-actions" });
  bar.append(el("button", { type: "button", class: "boost-open", title: "Boost", "aria-label": "Boost", text: "+☺", onclick: () => openPicker(bar, m) }));
  if (mine) bar.append(el("button", { type: "button", class: "edit-message", text: "Edit", onclick: () => startEdit(m) }));
  if (mine || me.role === "admin") bar.append(el("button", { type: "button", class: "delete-message", text: "Delete", onclick: () => remove(m) }));
  return bar;
}

function boostRow(m) {
  if (!m.boosts?.length) return null;
  const me = app.session.user.id;
  const groups = new Map(); // content -> boosts, in order of first use
  for (const b of m.boosts) {
    if (!groups.has(b.content)) groups.set(b.content, []);
    groups.get(b.content).push(b);
  }
  const row = el("div", { class: "boosts" });
  for (const [content, list] of groups) {
    const own = list.find((b) => b.user_id === me);
    const who = list.map((b) => userName(b.user_id)).join(", ");
    row.append(
      el(
        "button",
        {
          type: "button",
          class: `boost${own ? " own" : ""}`,
          title: who,
          "aria-label": `${content} from ${who}`,
          "aria-pressed": own ? "true" : "false",
          dataset: { content },
          onclick: () => (own ? act(() => app.client.removeBoost(m.room_id, m.id, own.id)) : act(() => app.client.addBoost(m.room_id, m.id, content))),
        },
        el("span", { class: "boost-content", text: content }),
        el("span", { class: "boost-count", text: String(list.length) }),
      ),
    );
  }
  return row;
}

function openPicker(bar, m) {
  const open = bar.querySelector(".boost-picker");
  if (open) {
    open.remove();
    return;
  }
  const text = el("input", { type: "text", class: "boost-text", maxlength: String(MAX_BOOST * 2), placeholder: "or type…", "aria-label": "Boost text" });
  const send = (content) => {
    picker.remove();
    if (!content.trim()) return;
    if ([...content].length > MAX_BOOST) {
      toast(`A boost can be at most ${MAX_BOOST} characters.`);
      return;
    }
    act(() => app.client.addBoost(m.room_id, m.id, content));
  };
  const picker = el(
    "form",
    { class: "boost-picker", onsubmit: (e) => { e.preventDefault(); send(text.value); } },
    ...PICKS.map((emoji) => el("button", { type: "button", class: "boost-pick", text: emoji, onclick: () => send(emoji) })),
    text,
  );
  text.addEventListener("keydown", (e) => e.key === "Escape" && picker.remove());
  bar.append(picker);
  text.focus();
}

function startEdit(m) {
  app.editing = { id: m.id, draft: m.content };
  scheduleRenderMessages();
}

function editor(m) {
  const area = el("textarea", { class: "edit-input", "aria-label": "Edit message", rows: "2" });
  area.value = app.editing.draft;
  area.addEventListener("input", () => (app.editing.draft = area.value));
  const save = () => {
    const content = area.value;
    // Blank text is refused unless the message has files (PROTOCOL.md 9.4): they stay.
    if (!content.trim() && !(m.attachments || []).length) return;
    app.editing = null;
    if (content === m.content) return scheduleRenderMessages();
    act(() => app.client.editMessage(m.room_id, m.id, content, { mentionIds: mentionsStillIn(m, content) }));
    scheduleRenderMessages();
  };
  const cancel = () => {
    app.editing = null;
    scheduleRenderMessages();
  };
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      cancel();
    } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      save();
    }
  });
  queueMicrotask(() => {
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  });
  return el(
    "div",
    { class: "message-editor" },
    area,
    el("button", { type: "button", class: "primary edit-save", text: "Save", onclick: save }),
    el("button", { type: "button", class: "edit-cancel", text: "Cancel", onclick: cancel }),
    el("span", { class: "edit-hint", text: "Enter saves, Escape cancels" }),
  );
}

/** Mentions kept by an edit: those whose @name is still in the text. */
function mentionsStillIn(m, content) {
  return (m.mention_ids || []).filter((id) => content.includes(`@${userName(id)}`));
}

function remove(m) {
  if (!window.confirm("Delete this message? Everyone will see that a message was deleted.")) return;
  act(() => app.client.deleteMessage(m.room_id, m.id));
}

async function act(change) {
  try {
    await change();
  } catch (err) {
    toast(`That did not work: ${errorText(err)}`);
  }
  scheduleRenderMessages();
}
