// First run and join links: on an empty install the page offers the form that creates the first
// admin (and the room "All Talk"); /join/<code> offers the sign-up form of a join link.

import { joinWithCode, setupFirstRun, setupStatus } from "../campfire-client.js";
import { el, errorText, store } from "./dom.js";
import { startChat } from "./chat.js";
import { showSignin } from "./signin.js";
import { SESSION_KEY } from "./state.js";

const JOIN_PATH = /^\/join\/([^/]+)\/?$/;

/** Decide what a visitor without a session sees: the join form, first run, or sign-in. */
export async function startOnboarding() {
  const join = JOIN_PATH.exec(location.pathname);
  if (join) {
    showSignupForm({
      id: "join",
      title: "Join Campfire",
      intro: "Create your account to join the conversation.",
      submitText: "Join",
      submit: (person) => joinWithCode(decodeURIComponent(join[1]), person),
      refused: (err) => (err.status === 404 ? "This join link is no longer valid. Ask for a new one." : null),
    });
    return;
  }
  try {
    const { needed } = await setupStatus();
    if (needed) {
      showSignupForm({
        id: "setup",
        title: "Welcome to Campfire",
        intro: "Set up your Campfire: you will be its administrator. A room called “All Talk” is made for everyone.",
        submitText: "Create my account",
        submit: (person) => setupFirstRun(person),
        refused: (err) => (err.status === 409 ? "Someone has already set up this Campfire: sign in instead." : null),
      });
      return;
    }
  } catch {
    // the server cannot say: offer sign-in, which explains its own errors
  }
  showSignin();
}

function showSignupForm({ id, title, intro, submitText, submit, refused }) {
  document.getElementById("signin").hidden = true;
  document.getElementById("chat").hidden = true;
  const error = el("p", { id: `${id}-error`, class: "error", role: "alert", hidden: true });
  const input = (name, label, props) =>
    el("label", {}, label, el("input", { id: `${id}-${name}`, name, required: true, ...props }));
  const button = el("button", { id: `${id}-submit`, type: "submit", class: "primary", text: submitText });
  const form = el(
    "form",
    { id: `${id}-form`, class: "card", autocomplete: "on" },
    el("h1", { class: "brand", text: title }),
    el("p", { class: "notice", text: intro }),
    input("name", "Your name", { autocomplete: "name", maxlength: "200" }),
    input("email", "Email", { type: "email", autocomplete: "username" }),
    input("password", "Password (at least 8 characters)", { type: "password", autocomplete: "new-password", minlength: "8" }),
    button,
    error,
    el("p", {}, el("a", { href: "/", text: "I already have an account" })),
  );
  const page = el("main", { id: `${id}-page`, class: "signin" }, form);
  document.body.append(page);
  form.querySelector("input").focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      const session = await submit({
        name: form.elements.name.value.trim(),
        email_address: form.elements.email.value.trim(),
        password: form.elements.password.value,
      });
      store(SESSION_KEY, { token: session.token, user: session.user });
      page.remove();
      if (location.pathname !== "/") history.replaceState(null, "", "/");
      startChat({ token: session.token, user: session.user });
    } catch (err) {
      error.textContent = refused(err) || `Could not create the account: ${errorText(err)}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}
