// A modal dialog (<dialog>) built on demand: a title, a body the caller fills, a Close button.

import { el } from "./dom.js";

/** Open a modal with `title`; returns {dialog, body, close}. The dialog is removed on close. */
export function openDialog(title, id) {
  document.getElementById(id)?.remove();
  const body = el("div", { class: "dialog-body" });
  const dialog = el(
    "dialog",
    { id, class: "dialog", "aria-label": title },
    el(
      "header",
      { class: "dialog-header" },
      el("h2", { text: title }),
      el("button", { type: "button", class: "icon-button dialog-close", "aria-label": "Close", text: "✕", onclick: () => dialog.close() }),
    ),
    body,
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, close: () => dialog.close() };
}

/** A labelled input for the dialogs' forms. */
export function field(label, props) {
  return el("label", {}, label, el("input", props));
}
