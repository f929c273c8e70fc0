// Campfire's service worker: shows Web Push notifications (PROTOCOL.md 9.2) and opens the room
// when one is clicked. The payload is {title, body, room_id, message_id, url}.

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: "Campfire", body: event.data ? event.data.text() : "" };
  }
  const title = data.title || "Campfire";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || "",
      // One notification per room: a newer message replaces the older one.
      tag: data.room_id ? `room:${data.room_id}` : undefined,
      renotify: Boolean(data.room_id),
      data: { url: data.url || "/", room_id: data.room_id || null, message_id: data.message_id || null },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const { url = "/", room_id: roomId } = event.notification.data || {};
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) {
        // An open Campfire tab switches to the room itself; no reload.
        open.postMessage({ type: "campfire:open-room", room_id: roomId });
        return open.focus();
      }
      return self.clients.openWindow(url);
    })(),
  );
});
