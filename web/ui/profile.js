// The profile dialog: one's name, email address, password and avatar.

import { el, errorText, store, toast, ui } from "./dom.js";
import { avatar } from "./directory.js";
import { field, openDialog } from "./dialog.js";
import { book } from "./users.js";
import { app, SESSION_KEY } from "./state.js";

export function openProfile() {
  const me = app.client?.user || app.session?.user;
  if (!me) return;
  const { body } = openDialog("Your profile", "profile-dialog");
  const picture = el("div", { class: "profile-avatar" }, avatar(me, "large"));
  const fileInput = el("input", { id: "profile-avatar-file", type: "file", accept: "image/png,image/jpeg,image/gif,image/webp" });
  const error = el("p", { id: "profile-error", class: "error", role: "alert", hidden: true });
  const form = el(
    "form",
    { id: "profile-form", class: "stack-form" },
    field("Name", { id: "profile-name", name: "name", value: me.name || "", required: true, maxlength: "200" }),
    field("Email", { id: "profile-email", name: "email", type: "email", value: me.email_address || "", required: true }),
    field("New password (leave empty to keep it)", { id: "profile-password", name: "password", type: "password", minlength: "8", autocomplete: "new-password" }),
    field("Current password (needed to change email or password)", { id: "profile-current", name: "current", type: "password", autocomplete: "current-password" }),
    el("button", { id: "profile-save", type: "submit", class: "primary", text: "Save" }),
    error,
  );
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  const updated = (user) => {
    app.session.user = { ...app.session.user, ...user };
    store(SESSION_KEY, app.session);
    book.users.set(user.id, { ...(book.get(user.id) || {}), ...user });
    ui.meName.textContent = user.name;
    picture.replaceChildren(avatar(user, "large"));
  };
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files?.[0];
    if (!file) return;
    if (file.size > 5 * 1024 * 1024) return showError("A picture may be at most 5 MB.");
    try {
      updated(await app.client.uploadAvatar(file));
      showError("");
    } catch (err) {
      showError(`Could not use that picture: ${errorText(err)}`);
    }
  });
  const remove = el("button", {
    id: "profile-avatar-remove",
    type: "button",
    class: "link-button",
    text: "Remove picture",
    onclick: async () => {
      try {
        updated(await app.client.removeAvatar());
      } catch (err) {
        showError(errorText(err));
      }
    },
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const changes = {};
    const name = form.elements.name.value.trim();
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    const current = form.elements.current.value;
    if (name && name !== me.name) changes.name = name;
    if (email && email.toLowerCase() !== (me.email_address || "").toLowerCase()) changes.email_address = email;
    if (password) changes.password = password;
    if ((changes.email_address || changes.password) && !current) {
      return showError("Enter your current password to change your email or password.");
    }
    if (current && (changes.email_address || changes.password)) changes.current_password = current;
    if (!Object.keys(changes).length) return showError("Nothing to change.");
    try {
      updated(await app.client.updateMe(changes));
      form.elements.password.value = "";
      form.elements.current.value = "";
      showError("");
      toast(changes.password ? "Saved. Your other sessions were signed out." : "Saved.");
    } catch (err) {
      showError(err.status === 403 ? "The current password is not right." : errorText(err));
    }
  });
  body.append(
    el("div", { class: "profile-picture" }, picture, el("label", { class: "link-button" }, "Change picture", fileInput), remove),
    form,
  );
}
