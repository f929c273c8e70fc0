// Attaching files (button, paste, drag and drop) with upload progress, and showing a message's
// files: image previews that open in a lightbox, chips for everything else.

import { el, errorText, toast, ui } from "./dom.js";
import { app } from "./state.js";

const MAX_FILES = 10; // per message (PROTOCOL.md 9.4)
const $ = (id) => document.getElementById(id);
const files = {
  button: $("attach-button"),
  input: $("attach-input"),
  tray: $("attach-tray"),
  lightbox: $("lightbox"),
  lightboxImage: $("lightbox-image"),
  lightboxCaption: $("lightbox-caption"),
  lightboxOpen: $("lightbox-open"),
};
// Uploads for the next message: {key, file, roomId, progress, attachment?, error?, controller}.
let pending = [];
let nextKey = 1;

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Ids of the finished uploads for the active room (the message takes them). */
export function readyAttachmentIds() {
  return pending.filter((p) => p.roomId === app.activeRoomId && p.attachment).map((p) => p.attachment.id);
}

export function uploadsInFlight() {
  return pending.some((p) => p.roomId === app.activeRoomId && !p.attachment && !p.error);
}

/** The message was sent: its files leave the tray. */
export function clearSentAttachments() {
  pending = pending.filter((p) => p.roomId !== app.activeRoomId || !p.attachment);
  renderTray();
}

export function addFiles(list) {
  const roomId = app.activeRoomId;
  if (!roomId || !app.client) return;
  for (const file of list) {
    if (pending.filter((p) => p.roomId === roomId).length >= MAX_FILES) {
      toast(`At most ${MAX_FILES} files per message.`);
      break;
    }
    const item = { key: nextKey++, file, roomId, progress: 0, controller: new AbortController() };
    pending.push(item);
    app.client
      .uploadFile(roomId, file, {
        signal: item.controller.signal,
        onProgress: (sent, total) => {
          item.progress = total ? sent / total : 0;
          renderTray();
        },
      })
      .then((attachment) => {
        item.attachment = attachment;
        item.progress = 1;
      })
      .catch((err) => {
        if (err.code === "aborted") return;
        item.error = err.status === 413 ? "too large" : errorText(err);
        toast(`Could not upload ${file.name || "the file"}: ${item.error}`);
      })
      .finally(renderTray);
  }
  renderTray();
}

function remove(item) {
  item.controller.abort();
  pending = pending.filter((p) => p !== item);
  renderTray();
}

export function renderTray() {
  const mine = pending.filter((p) => p.roomId === app.activeRoomId);
  files.tray.hidden = mine.length === 0;
  files.tray.replaceChildren(
    ...mine.map((p) =>
      el(
        "li",
        { class: `upload${p.error ? " failed" : ""}${p.attachment ? " done" : ""}`, dataset: { key: String(p.key) } },
        el("span", { class: "upload-name", text: p.file.name || "pasted file", title: p.file.name || "" }),
        el("span", { class: "upload-size", text: p.error ? p.error : formatSize(p.file.size) }),
        p.attachment || p.error
          ? null
          : el("progress", { class: "upload-progress", max: "1", value: String(p.progress), "aria-label": `Uploading ${p.file.name || "file"}` }),
        el("button", { type: "button", class: "icon-button upload-remove", "aria-label": `Remove ${p.file.name || "file"}`, text: "×", onclick: () => remove(p) }),
      ),
    ),
  );
  ui.send.disabled = !app.activeRoomId || !app.client;
}

const INLINE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** The files of a message, for the message list. */
export function renderAttachments(message) {
  const list = message.attachments || [];
  if (!list.length) return null;
  return el(
    "div",
    { class: "attachments" },
    ...list.map((a) => {
      if (INLINE.has(a.content_type) && a.thumbnail_url) {
        const img = el("img", {
          src: a.thumbnail_url,
          alt: a.filename,
          loading: "lazy",
          width: a.width ? String(Math.min(a.width, 320)) : null,
          height: a.width && a.height ? String(Math.round((a.height * Math.min(a.width, 320)) / a.width)) : null,
        });
        return el("button", { type: "button", class: "attachment-image", title: a.filename, onclick: () => openLightbox(a) }, img);
      }
      return el(
        "a",
        { class: "attachment-file", href: a.url, download: a.filename, rel: "noopener" },
        el("span", { class: "attachment-icon", "aria-hidden": "true", text: "📄" }),
        el("span", { class: "attachment-name", text: a.filename }),
        el("span", { class: "attachment-size", text: formatSize(a.byte_size) }),
      );
    }),
  );
}

function openLightbox(a) {
  files.lightboxImage.src = a.url;
  files.lightboxImage.alt = a.filename;
  files.lightboxCaption.textContent = `${a.filename} · ${formatSize(a.byte_size)}${a.width ? ` · ${a.width}×${a.height}` : ""}`;
  files.lightboxOpen.href = a.url;
  files.lightbox.showModal();
}

export function setupAttachments() {
  files.button.addEventListener("click", () => files.input.click());
  files.input.addEventListener("change", () => {
    addFiles([...files.input.files]);
    files.input.value = "";
  });
  ui.input.addEventListener("paste", (e) => {
    const pasted = [...(e.clipboardData?.files || [])];
    if (pasted.length) {
      e.preventDefault();
      addFiles(pasted);
    }
  });
  const room = $("room");
  room.addEventListener("dragover", (e) => {
    if (![...(e.dataTransfer?.types || [])].includes("Files")) return;
    e.preventDefault();
    room.classList.add("dropping");
  });
  room.addEventListener("dragleave", (e) => {
    if (!room.contains(e.relatedTarget)) room.classList.remove("dropping");
  });
  room.addEventListener("drop", (e) => {
    room.classList.remove("dropping");
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    addFiles([...e.dataTransfer.files]);
  });
  $("lightbox-close").addEventListener("click", () => files.lightbox.close());
  files.lightbox.addEventListener("click", (e) => e.target === files.lightbox && files.lightbox.close());
}
