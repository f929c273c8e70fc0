// Sign in and sign out.

import { signIn } from "../campfire-client.js";
import { $, errorText, store, ui } from "./dom.js";
import { startChat } from "./chat.js";
import { app, SESSION_KEY } from "./state.js";
import { stopNotifications } from "./notifications.js";
import { book } from "./users.js";

export function showSignin(notice) {
  ui.chat.hidden = true;
  ui.banner.hidden = true;
  ui.signin.hidden = false;
  ui.signinNotice.hidden = !notice;
  ui.signinNotice.textContent = notice || "";
  ui.signinEmail.focus();
  document.title = "Campfire";
}

export function endChat(notice) {
  if (app.client) {
    app.client.close();
    app.client = null;
  }
  store(SESSION_KEY, null);
  app.session = null;
  book.clear();
  app.activeRoomId = null;
  app.openedRoomId = null;
  app.notificationsStarted = false;
  ui.roomList.replaceChildren();
  ui.messageList.replaceChildren();
  ui.memberList.replaceChildren();
  if (notice) showSignin(notice);
}

export function setupSignin() {
  ui.signinForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    ui.signinError.hidden = true;
    const submit = $("signin-submit");
    submit.disabled = true;
    try {
      const session = await signIn({
        email_address: ui.signinEmail.value.trim(),
        password: ui.signinPassword.value,
      });
      ui.signinPassword.value = "";
      store(SESSION_KEY, { token: session.token, user: session.user });
      startChat({ token: session.token, user: session.user });
    } catch (err) {
      ui.signinError.textContent = err.status === 401 ? "Wrong email or password." : `Could not sign in: ${errorText(err)}`;
      ui.signinError.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });

  ui.signout.addEventListener("click", async () => {
    const pending = app.client?.getPending().length || 0;
    if (pending && !window.confirm(`${pending} message(s) have not been sent yet and will be lost. Sign out anyway?`)) return;
    const client = app.client;
    await stopNotifications(); // this browser stops getting the user's pushes
    try {
      await client?.signOut();
    } catch {
      // signed out locally anyway
    }
    endChat();
    showSignin();
  });
}
