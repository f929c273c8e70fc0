// Phone layout (<= 1000 px): the room list and the members panel become drawers.

import { ui } from "./dom.js";

export function closeDrawers() {
  ui.chat.classList.remove("show-sidebar", "show-members");
  ui.scrim.hidden = true;
}

export function setupDrawers() {
  ui.toggleSidebar.addEventListener("click", () => {
    const open = !ui.chat.classList.contains("show-sidebar");
    closeDrawers();
    ui.chat.classList.toggle("show-sidebar", open);
    ui.scrim.hidden = !open;
  });

  ui.toggleMembers.addEventListener("click", () => {
    const open = !ui.chat.classList.contains("show-members");
    closeDrawers();
    ui.chat.classList.toggle("show-members", open);
    ui.scrim.hidden = !open;
  });

  ui.scrim.addEventListener("click", closeDrawers);
}
