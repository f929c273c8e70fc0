// Narrow screens: the members panel is a drawer at <= 1000 px, the room list too at <= 700 px
// (the widths of the media queries in room.css). A closed drawer is `inert`: out of the focus
// order and hidden from screen readers, so Tab from the message box cannot land in it (which
// also scrolled the whole page sideways to show the focused, off-screen element).

import { ui } from "./dom.js";

const DRAWERS = [
  { name: "sidebar", query: "(max-width: 700px)", panel: () => ui.sidebar, toggle: () => ui.toggleSidebar },
  { name: "members", query: "(max-width: 1000px)", panel: () => ui.members, toggle: () => ui.toggleMembers },
];

function isDrawer(d) {
  return window.matchMedia(d.query).matches;
}

function isOpen(d) {
  return ui.chat.classList.contains(`show-${d.name}`);
}

/** Make each panel's inert/aria state match the layout and whether its drawer is open. */
export function syncDrawers() {
  let anyOpen = false;
  for (const d of DRAWERS) {
    const drawer = isDrawer(d);
    const open = drawer && isOpen(d);
    if (!drawer) ui.chat.classList.remove(`show-${d.name}`);
    d.panel().inert = drawer && !open;
    d.toggle().setAttribute("aria-expanded", String(open));
    anyOpen ||= open;
  }
  ui.scrim.hidden = !anyOpen;
}

export function closeDrawers() {
  ui.chat.classList.remove("show-sidebar", "show-members");
  syncDrawers();
}

function toggle(d) {
  const open = !isOpen(d);
  ui.chat.classList.remove("show-sidebar", "show-members");
  ui.chat.classList.toggle(`show-${d.name}`, open);
  syncDrawers();
  if (open) {
    // Into the drawer, so that the keyboard and screen readers follow what just opened.
    d.panel().querySelector("button, input, select, textarea, [tabindex]")?.focus({ preventScroll: true });
  }
}

export function setupDrawers() {
  for (const d of DRAWERS) {
    d.toggle().addEventListener("click", () => toggle(d));
    window.matchMedia(d.query).addEventListener("change", syncDrawers);
  }
  ui.scrim.addEventListener("click", closeDrawers);
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const open = DRAWERS.find((d) => isDrawer(d) && isOpen(d));
    if (!open) return;
    closeDrawers();
    open.toggle().focus({ preventScroll: true });
  });
  syncDrawers();
}
