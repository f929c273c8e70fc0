// The admin page: the join link, everyone with their role and a way to deactivate them, bots.

import { el, errorText, toast } from "./dom.js";
import { avatar } from "./directory.js";
import { field, openDialog } from "./dialog.js";
import { app } from "./state.js";
import { book, refreshUsers } from "./users.js";

export async function openAdmin() {
  const { body } = openDialog("Admin", "admin-dialog");
  const link = el("section", { class: "admin-section" });
  const people = el("section", { class: "admin-section" });
  const bots = el("section", { class: "admin-section" });
  body.append(link, people, bots);
  await Promise.all([renderJoinLink(link), renderPeople(people), renderBots(bots)]);
}

async function renderJoinLink(section) {
  let data;
  try {
    data = await app.client.joinCode();
  } catch (err) {
    section.replaceChildren(el("p", { class: "error", text: errorText(err) }));
    return;
  }
  const url = el("input", { id: "join-link", readonly: true, value: data.url, "aria-label": "Join link" });
  section.replaceChildren(
    el("h3", { text: "Join link" }),
    el("p", { class: "muted", text: "Anyone with this link can create an account and join." }),
    url,
    el(
      "div",
      { class: "button-row" },
      el("button", {
        type: "button",
        text: "Copy",
        onclick: async () => {
          url.select();
          try {
            await navigator.clipboard.writeText(url.value);
            toast("Join link copied.");
          } catch {
            document.execCommand?.("copy");
          }
        },
      }),
      el("button", {
        id: "join-link-rotate",
        type: "button",
        text: "Make a new link",
        onclick: async () => {
          if (!window.confirm("Make a new join link? The current one stops working.")) return;
          try {
            url.value = (await app.client.rotateJoinCode()).url;
          } catch (err) {
            toast(errorText(err));
          }
        },
      }),
    ),
  );
}

async function renderPeople(section) {
  await refreshUsers();
  const me = app.session.user.id;
  const people = [...book.users.values()].filter((u) => u.role !== "bot").sort((a, b) => a.name.localeCompare(b.name));
  section.replaceChildren(
    el("h3", { text: "People" }),
    el(
      "table",
      { id: "admin-people", class: "admin-table" },
      ...people.map((u) => {
        const role = el(
          "select",
          { "aria-label": `Role of ${u.name}`, class: "admin-role", disabled: u.id === me },
          el("option", { value: "member", text: "Member", selected: u.role === "member" }),
          el("option", { value: "admin", text: "Admin", selected: u.role === "admin" }),
        );
        role.addEventListener("change", async () => {
          try {
            const user = await app.client.setRole(u.id, role.value);
            book.users.set(user.id, user);
            toast(`${user.name} is now ${user.role === "admin" ? "an admin" : "a member"}.`);
          } catch (err) {
            role.value = u.role;
            toast(errorText(err));
          }
        });
        const row = el(
          "tr",
          { dataset: { userId: u.id } },
          el("td", {}, avatar(u)),
          el("td", {}, el("div", { text: u.name }), el("div", { class: "muted", text: u.email_address || "" })),
          el("td", {}, role),
          el(
            "td",
            {},
            u.id === me
              ? el("span", { class: "muted", text: "you" })
              : el("button", {
                  type: "button",
                  class: "link-button admin-deactivate",
                  text: "Deactivate",
                  onclick: async () => {
                    if (!window.confirm(`Deactivate ${u.name}? They are signed out everywhere; their messages stay.`)) return;
                    try {
                      await app.client.deactivateUser(u.id);
                      book.users.delete(u.id);
                      row.remove();
                      toast(`${u.name} was deactivated.`);
                    } catch (err) {
                      toast(errorText(err));
                    }
                  },
                }),
          ),
        );
        return row;
      }),
    ),
  );
}

async function renderBots(section) {
  let list;
  try {
    list = await app.client.listBots();
  } catch (err) {
    section.replaceChildren(el("p", { class: "error", text: errorText(err) }));
    return;
  }
  const keyNote = el("p", { id: "bot-key", class: "notice", hidden: true });
  const showKey = (bot) => {
    keyNote.textContent = `Key of ${bot.user.name} (shown once): ${bot.bot_key}`;
    keyNote.hidden = false;
  };
  const form = el(
    "form",
    { id: "bot-form", class: "stack-form" },
    field("Bot name", { name: "name", required: true, maxlength: "200" }),
    field("Webhook URL (optional)", { name: "webhook", type: "url", placeholder: "https://…" }),
    el("button", { type: "submit", text: "Create bot" }),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const bot = await app.client.createBot({ name: form.elements.name.value.trim(), webhook_url: form.elements.webhook.value.trim() });
      showKey(bot);
      form.reset();
      await renderBots(section);
      section.append(keyNote);
    } catch (err) {
      toast(`Could not create the bot: ${errorText(err)}`);
    }
  });
  section.replaceChildren(
    el("h3", { text: "Bots" }),
    el(
      "ul",
      { class: "directory-list" },
      ...list.map((bot) =>
        el(
          "li",
          { class: "directory-item" },
          el("span", { class: "directory-name", text: bot.user.name }),
          el("span", { class: "muted", text: bot.webhook_url || "no webhook" }),
          el("button", {
            type: "button",
            class: "link-button",
            text: "New key",
            onclick: async () => {
              try {
                showKey(await app.client.rotateBotKey(bot.user.id));
              } catch (err) {
                toast(errorText(err));
              }
            },
          }),
          el("button", {
            type: "button",
            class: "link-button",
            text: "Delete",
            onclick: async () => {
              if (!window.confirm(`Delete the bot ${bot.user.name}?`)) return;
              try {
                await app.client.deleteBot(bot.user.id);
                await renderBots(section);
              } catch (err) {
                toast(errorText(err));
              }
            },
          }),
        ),
      ),
    ),
    form,
    keyNote,
  );
}
