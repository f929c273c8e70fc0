// The composer (Enter sends, Shift+Enter for a new line) and the typing indicator above it.

import { clearSentAttachments, readyAttachmentIds, renderTray, uploadsInFlight } from "./attachments.js";
import { toast, ui } from "./dom.js";
import { takeMentions } from "./mentions.js";
import { renderMessages } from "./message-list.js";
import { app } from "./state.js";
import { userName } from "./users.js";

export function renderTyping() {
  const client = app.client;
  const roomId = app.activeRoomId;
  if (!client || !roomId || client.polling) {
    ui.typing.textContent = "";
    return;
  }
  const names = client.getTyping(roomId).map(userName);
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  ui.typing.textContent = text;
}

export function updateComposer() {
  const enabled = !!(app.client && app.activeRoomId);
  ui.input.disabled = !enabled;
  ui.send.disabled = !enabled;
  renderTray(); // the files waiting to be sent are per room
}

function autoGrow() {
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 200)}px`;
}

function sendComposer() {
  const content = ui.input.value;
  const attachmentIds = readyAttachmentIds();
  if ((!content.trim() && !attachmentIds.length) || !app.activeRoomId || !app.client) return;
  if (uploadsInFlight()) {
    toast("Wait until your files have uploaded.");
    return;
  }
  if ([...content].length > 10000) {
    toast("A message can be at most 10,000 characters.");
    return;
  }
  app.client.sendMessage(app.activeRoomId, content, { mentionIds: takeMentions(content), attachmentIds });
  clearSentAttachments();
  ui.input.value = "";
  autoGrow();
  renderMessages({ forceBottom: true });
}

export function setupComposer() {
  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    sendComposer();
  });

  ui.input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendComposer();
    }
  });

  ui.input.addEventListener("input", () => {
    autoGrow();
    if (app.activeRoomId && ui.input.value.trim()) app.client?.typing(app.activeRoomId);
    else if (app.activeRoomId) app.client?.stopTyping(app.activeRoomId);
  });
}
