// The room header's involvement chooser: how much of this room reaches you (PROTOCOL.md 9.2).

import { errorText, toast } from "./dom.js";
import { app } from "./state.js";

const chooser = () => document.getElementById("involvement");

export function renderInvolvement() {
  const select = chooser();
  if (!select) return;
  const room = app.activeRoomId && app.client?.getRoom(app.activeRoomId);
  select.hidden = !room || !room.involvement;
  if (room?.involvement) select.value = room.involvement;
}

export function setupInvolvement() {
  chooser()?.addEventListener("change", async (e) => {
    const roomId = app.activeRoomId;
    if (!roomId) return;
    try {
      await app.client.setInvolvement(roomId, e.target.value);
      if (e.target.value === "invisible") toast("Hidden from your room list; find it under “Hidden rooms”.");
    } catch (err) {
      toast(`Could not change notifications: ${errorText(err)}`);
      renderInvolvement();
    }
  });
}
