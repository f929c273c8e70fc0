"""Message lifecycle in the chat UI (PROTOCOL.md 9.1), in headless Chromium.

Alice edits (Escape cancels, Enter saves), deletes (after confirming), boosts (picker and free
text) and mentions Bob (the @ autocomplete) while Bob's page is offline; when Bob's network is
back, his page shows the final state of every message.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CampfireServer

RECOVERY_MS = 45_000


def message(page, text: str):
    return page.locator("#message-list .message:not(.pending)", has_text=text)


@pytest.mark.timeout(240)
def test_changes_made_while_a_reader_is_offline_reach_them(
    server: CampfireServer, open_chat
) -> None:
    alice = server.create_user("Alice")
    bob = server.create_user("Bob")
    room = server.create_room(alice, "lifecycle", [bob])
    alice_page, bob_page = open_chat(alice), open_chat(bob)
    a, b = alice_page.page, bob_page.page
    for p in (a, b):
        expect(p.locator("#banner")).to_have_attribute("data-state", "connected")
        expect(p.locator("#room-name")).to_have_text("lifecycle")
    for text in ("a typo herre", "boost me", "delete me", "react in words"):
        alice_page.send(text)
    expect(bob_page.messages()).to_have_text(
        ["a typo herre", "boost me", "delete me", "react in words"]
    )

    b.context.set_offline(True)
    expect(b.locator("#banner")).not_to_have_attribute("data-state", "connected")

    # Edit: Escape cancels, Enter saves; the message says it was edited.
    target = message(a, "a typo herre")
    target.hover()
    target.locator(".edit-message").click()
    editor = a.locator("#message-list .edit-input")
    editor.fill("this is not saved")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    expect(message(a, "a typo herre")).to_have_count(1)
    target.hover()
    target.locator(".edit-message").click()
    editor.fill("a typo here")
    editor.press("Enter")
    fixed = message(a, "a typo here")
    expect(fixed.locator(".edited")).to_have_text("(edited)")

    # Delete, after the confirmation: a tombstone line stays in its place.
    a.once("dialog", lambda dialog: dialog.accept())
    doomed = message(a, "delete me")
    doomed.hover()
    doomed.locator(".delete-message").click()
    expect(a.locator("#message-list .message.deleted .tombstone")).to_have_text("message deleted")

    # Boosts: one from the picker, one typed.
    boosted = message(a, "boost me")
    boosted.hover()
    boosted.locator(".boost-open").click()
    boosted.locator(".boost-pick", has_text="🎉").click()
    expect(boosted.locator(".boost")).to_have_text("🎉1")
    worded = message(a, "react in words")
    worded.hover()
    worded.locator(".boost-open").click()
    worded.locator(".boost-text").fill("nice")
    worded.locator(".boost-text").press("Enter")
    expect(worded.locator(".boost")).to_have_text("nice1")

    # A mention through the autocomplete.
    box = a.locator("#composer-input")
    box.fill("")
    box.press_sequentially("ping @Bo")
    expect(a.locator("#mention-suggestions .mention-option")).to_have_text(["Bob"])
    box.press("Enter")  # picks Bob, does not send
    expect(box).to_have_value("ping @Bob ")
    box.press_sequentially("please look")
    box.press("Enter")
    expect(alice_page.messages().last).to_have_text("ping @Bob please look")
    stored = server.messages(alice, room["id"])
    assert stored[-1]["mention_ids"] == [bob.id], stored[-1]

    # Bob comes back: everything is there, in its final state.
    b.context.set_offline(False)
    expect(b.locator("#banner")).to_have_attribute("data-state", "connected", timeout=RECOVERY_MS)
    expect(bob_page.messages()).to_have_text(
        ["a typo here", "boost me", "message deleted", "react in words", "ping @Bob please look"],
        timeout=RECOVERY_MS,
    )
    expect(message(b, "a typo here").locator(".edited")).to_have_text("(edited)")
    expect(b.locator("#message-list .message.deleted")).to_have_count(1)
    bob_boost = message(b, "boost me").locator(".boost")
    expect(bob_boost).to_have_text("🎉1")
    expect(bob_boost).to_have_attribute("title", "Alice")
    expect(message(b, "react in words").locator(".boost")).to_have_text("nice1")
    expect(message(b, "ping @Bob")).to_have_class(re.compile(r"\bmentions-me\b"))
    # Bob's own boost toggles: adding his to the same emoji makes it 2, clicking again removes it.
    bob_boost.click()
    expect(bob_boost).to_have_text("🎉2")
    expect(message(a, "boost me").locator(".boost")).to_have_text("🎉2")
    # Only authors edit; Bob sees no Edit or Delete on Alice's messages.
    message(b, "boost me").hover()
    expect(message(b, "boost me").locator(".edit-message")).to_have_count(0)
    expect(message(b, "boost me").locator(".delete-message")).to_have_count(0)
    assert not alice_page.errors and not bob_page.errors, alice_page.errors + bob_page.errors
