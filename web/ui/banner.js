// The connection banner: what the connection is doing, when it retries, what is waiting to be sent.

import { STATES } from "../campfire-client.js";
import { connectionText } from "./connection-text.js";
import { ui } from "./dom.js";
import { app } from "./state.js";

export function renderBanner() {
  const client = app.client;
  clearTimeout(app.bannerTimer);
  if (!client) {
    ui.banner.hidden = true;
    ui.bannerLive.textContent = "";
    app.bannerAnnounced = null;
    return;
  }
  const info = client.stateInfo || { state: client.state };
  const state = client.state;
  const { text, retry, ticking } = connectionText(state, info, Date.now());
  if (ticking) app.bannerTimer = setTimeout(renderBanner, 1000 - (Date.now() % 1000) + 5);
  ui.banner.hidden = false;
  ui.banner.dataset.state = state;
  ui.bannerText.textContent = text;
  const key = `${state}|${info.refused || ""}`;
  if (key !== app.bannerAnnounced) {
    app.bannerAnnounced = key;
    ui.bannerLive.textContent = text;
  }
  ui.bannerRetry.hidden = !retry;
  ui.bannerRetry.textContent = state === STATES.OFFLINE ? "Retry" : "Retry now";
  const queued = client.getPending().filter((p) => p.status === "queued").length;
  ui.bannerQueue.hidden = !queued || state === STATES.CONNECTED;
  ui.bannerQueue.textContent = queued ? `${queued} message${queued > 1 ? "s" : ""} waiting to be sent.` : "";
}

export function setupBanner() {
  ui.bannerRetry.addEventListener("click", () => app.client?.retry());
}
