// The connection banner: what the connection is doing, when it retries, what is waiting to be sent.

import { STATES } from "../campfire-client.js";
import { ui } from "./dom.js";
import { app } from "./state.js";

export function renderBanner() {
  const client = app.client;
  clearTimeout(app.bannerTimer);
  if (!client) {
    ui.banner.hidden = true;
    return;
  }
  const info = client.stateInfo || { state: client.state };
  const state = client.state;
  let text = "";
  let retry = false;
  switch (state) {
    case STATES.IDLE:
    case STATES.CONNECTING:
      text = info.attempt ? `Connecting… (attempt ${info.attempt + 1})` : "Connecting…";
      break;
    case STATES.SYNCING:
      text = "Catching up…";
      break;
    case STATES.CONNECTED:
      text = "Up to date";
      break;
    case STATES.RECONNECTING: {
      const secs = Math.max(0, Math.ceil((info.retry_at - Date.now()) / 1000));
      text = `Connection lost. Reconnecting in ${secs} s…`;
      retry = true;
      app.bannerTimer = setTimeout(renderBanner, 1000 - (Date.now() % 1000) + 5);
      break;
    }
    case STATES.OFFLINE:
      text = "Offline. Messages you write are kept and sent when you are back.";
      retry = true;
      break;
    case STATES.POLLING:
      text = "Live connection unavailable: checking for new messages every few seconds.";
      retry = true;
      break;
    case STATES.UNAUTHORIZED:
      text = "Signed out.";
      break;
    case STATES.CLOSED:
      text = "Disconnected.";
      break;
    default:
      text = state;
  }
  ui.banner.hidden = false;
  ui.banner.dataset.state = state;
  ui.bannerText.textContent = text;
  ui.bannerRetry.hidden = !retry;
  ui.bannerRetry.textContent = state === STATES.OFFLINE ? "Retry" : "Retry now";
  const queued = client.getPending().filter((p) => p.status === "queued").length;
  ui.bannerQueue.hidden = !queued || state === STATES.CONNECTED;
  ui.bannerQueue.textContent = queued ? `${queued} message${queued > 1 ? "s" : ""} waiting to be sent.` : "";
}

export function setupBanner() {
  ui.bannerRetry.addEventListener("click", () => app.client?.retry());
}
