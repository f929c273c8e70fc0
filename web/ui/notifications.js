// Notifications: the service worker, Web Push subscription, and the page's visibility.
// Permission is asked only when the person clicks "Turn on notifications" (a user gesture);
// once granted, later visits renew the subscription silently.

import { toast } from "./dom.js";
import { app } from "./state.js";

const button = () => document.getElementById("enable-notifications");

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function registration() {
  return navigator.serviceWorker.register("/sw.js", { scope: "/" });
}

/** Subscribe this browser and store the subscription for the signed-in user. */
async function subscribe() {
  const reg = await registration();
  await navigator.serviceWorker.ready;
  const key = await app.client.vapidPublicKey();
  let sub = await reg.pushManager.getSubscription();
  const current = sub?.options?.applicationServerKey;
  if (sub && current && btoa(String.fromCharCode(...new Uint8Array(current))) !== btoa(String.fromCharCode(...keyBytes(key)))) {
    await sub.unsubscribe(); // the server's key changed: a new subscription is needed
    sub = null;
  }
  sub ||= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  await app.client.savePushSubscription(sub.toJSON());
}

export function renderNotificationButton() {
  const b = button();
  if (!b) return;
  b.hidden = !supported() || Notification.permission !== "default";
}

/** After sign-in: renew the subscription where permission was given before (no prompt). */
export function startNotifications() {
  renderNotificationButton();
  if (!supported()) return;
  if (Notification.permission === "granted") {
    subscribe().catch((err) => console.warn("push subscription failed", err));
  }
}

/** On sign-out: this browser stops receiving the user's pushes. */
export async function stopNotifications() {
  if (!supported() || !app.client) return;
  try {
    const reg = await navigator.serviceWorker.getRegistration("/");
    const sub = await reg?.pushManager.getSubscription();
    if (sub) {
      await app.client.deletePushSubscription(sub.endpoint).catch(() => {});
      await sub.unsubscribe();
    }
  } catch {
    // best effort
  }
}

export function reportVisibility() {
  app.client?.setVisible(document.visibilityState !== "hidden");
}

export function setupNotifications(openRoom) {
  button()?.addEventListener("click", async () => {
    // The click is the user gesture the permission prompt needs.
    const answer = await Notification.requestPermission();
    renderNotificationButton();
    if (answer !== "granted") {
      toast("Notifications stay off. You can allow them in the browser's site settings.");
      return;
    }
    try {
      await subscribe();
      toast("Notifications are on for this browser.");
    } catch (err) {
      toast(`Could not turn on notifications: ${err?.message || err}`);
    }
  });
  document.addEventListener("visibilitychange", reportVisibility);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data?.type === "campfire:open-room" && event.data.room_id) openRoom(event.data.room_id);
    });
  }
}

/** A room named by the address (`/?room=<id>`, a notification's url), once, then forgotten. */
export function roomFromAddress() {
  const params = new URLSearchParams(location.search);
  const roomId = params.get("room");
  if (roomId) {
    params.delete("room");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  return roomId;
}
