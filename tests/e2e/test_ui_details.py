"""What a new user runs into in the chat UI (issue 14.4), each checked in Chromium.

- typing someone keeps doing stays visible to the others;
- on narrow screens, closed drawers are out of the focus order and Tab cannot shift the page;
- a refused connection says why and when it retries;
- a person created after the page loaded is named at once;
- scrolled up, new messages show a pill; reaching the top loads older history;
- the members panel groups online and offline people, the current room is aria-current, and own
  messages are marked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import WAIT_MS, CampfireServer, ChatPage, User

# Records every text the typing line shows, so that a gap while someone types can be seen.
RECORD_TYPING = """() => {
  window.__typingLog = [];
  const line = document.getElementById('typing');
  new MutationObserver(() => window.__typingLog.push(line.textContent))
    .observe(line, {childList: true, characterData: true, subtree: true});
}"""


@pytest.mark.timeout(120)
def test_typing_stays_visible_while_someone_keeps_typing(
    server: CampfireServer, alice: User, open_chat
) -> None:
    bob = server.create_user("Bob")
    server.create_room(alice, "Typing", [bob])
    alice_page, bob_page = open_chat(alice), open_chat(bob)
    a, b = alice_page.page, bob_page.page
    for p in (alice_page, bob_page):
        expect(p.page.locator("#banner")).to_have_attribute("data-state", "connected")
        p.open_room("Typing")
    b.evaluate(RECORD_TYPING)

    # Alice types without a pause for ~12 s: longer than the client's 8 s local expiry, so only
    # the relayed refreshes keep her indicator on.
    text = "a long thought that takes a while to type out, letter by letter"
    a.locator("#composer-input").press_sequentially(text, delay=190)
    expect(b.locator("#typing")).to_have_text("Alice is typing…")
    log = b.evaluate("window.__typingLog")
    assert "" not in log[log.index("Alice is typing…") :], log

    a.locator("#composer-input").press("Enter")
    expect(b.locator("#typing")).to_have_text("")
    expect(bob_page.messages()).to_have_text([text])


@pytest.mark.parametrize("width", [390, 800])
def test_tab_from_the_message_box_skips_closed_drawers(
    server: CampfireServer, alice: User, open_chat, width: int
) -> None:
    server.create_room(alice, "Focus", [])
    page = open_chat(alice, viewport={"width": width, "height": 844}).page
    expect(page.locator("#banner")).to_have_attribute("data-state", "connected")
    expect(page.locator("#room-name")).to_have_text("Focus")
    expect(page.locator("#members")).to_have_attribute("inert", "")
    if width <= 700:
        expect(page.locator("#sidebar")).to_have_attribute("inert", "")
    else:
        expect(page.locator("#sidebar")).not_to_have_attribute("inert", "")
    room_x = page.locator("#room").bounding_box()["x"]

    page.locator("#composer-input").focus()
    for _ in range(6):
        page.keyboard.press("Tab")
        inside_closed = page.evaluate(
            """() => ['members', 'sidebar'].some((id) => {
                 const panel = document.getElementById(id);
                 return panel.inert && panel.contains(document.activeElement);
               })"""
        )
        assert not inside_closed
        shifted = page.evaluate(
            "[window.scrollX, document.getElementById('chat').scrollLeft,"
            " document.scrollingElement.scrollLeft]"
        )
        assert shifted == [0, 0, 0]
        assert page.locator("#room").bounding_box()["x"] == room_x

    # Opened, the drawer takes focus; Escape closes it and returns to its button.
    page.click("#toggle-members")
    expect(page.locator("#members")).not_to_have_attribute("inert", "")
    expect(page.locator("#toggle-members")).to_have_attribute("aria-expanded", "true")
    assert page.evaluate("document.getElementById('members').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(page.locator("#members")).to_have_attribute("inert", "")
    expect(page.locator("#toggle-members")).to_be_focused()


@pytest.mark.timeout(120)
def test_a_refused_connection_says_why_and_when_it_retries(tmp_path: Path, browser) -> None:
    server = CampfireServer(tmp_path / "campfire", env={"CAMPFIRE_CONNECT_RATE": "2"})
    server.start()
    context = browser.new_context()
    try:
        server.bootstrap()
        chat = ChatPage(context.new_page(), server.create_user("Alice")).sign_in()  # attempt 1
        page = chat.page
        expect(page.locator("#banner")).to_have_attribute("data-state", "connected")
        page.reload()  # attempt 2
        expect(page.locator("#banner")).to_have_attribute("data-state", "connected")
        page.reload()  # attempt 3: over the per-IP rate
        expect(page.locator("#banner-text")).to_have_text(
            re.compile(
                r"^Too many connection attempts from this network\. "
                r"Trying again in \d+ seconds?…$"
            )
        )
        expect(page.locator("#banner-retry")).to_be_visible()
        # Screen readers hear it once (#banner-live), not once per second of the countdown.
        shown = page.locator("#banner-text").text_content()
        expect(page.locator("#banner-live")).to_have_text(shown)
        expect(page.locator("#banner-text")).not_to_have_text(shown)  # the countdown ticked
        expect(page.locator("#banner-live")).to_have_text(shown)
    finally:
        context.close()
        server.stop()


def test_a_person_created_after_the_page_loaded_is_named_at_once(
    server: CampfireServer, alice: User, open_chat
) -> None:
    room = server.create_room(alice, "Newcomers", [])
    page = open_chat(alice).page
    expect(page.locator("#banner")).to_have_attribute("data-state", "connected")
    expect(page.locator("#room-name")).to_have_text("Newcomers")

    dave = server.create_user("Dave")  # after Alice's page fetched the user directory
    server.api("POST", f"/api/rooms/{room['id']}/members", alice.token, {"user_id": dave.id})
    server.post_message(dave, room["id"], "hi, I am new")
    # Well before the 30 s periodic refresh the UI used to wait for.
    expect(page.locator("#message-list .message .message-author")).to_have_text(
        ["Dave"], timeout=8_000
    )
    expect(page.locator(f'#member-list li[data-user-id="{dave.id}"] .member-name')).to_have_text(
        "Dave", timeout=8_000
    )


@pytest.mark.timeout(120)
def test_new_messages_pill_and_older_history_on_scrolling_up(
    server: CampfireServer, alice: User, open_chat
) -> None:
    bob = server.create_user("Bob")
    room = server.create_room(alice, "Busy", [bob])
    # Enough history that older pages remain after every load below: scrolling to the top
    # loads a page by itself, and with all of it loaded the button is rightly hidden (with
    # 120 messages a slow machine could get there before the last check).
    for i in range(300):
        server.post_message(bob, room["id"], f"history {i}")
    chat = open_chat(alice)
    page = chat.page
    expect(page.locator("#banner")).to_have_attribute("data-state", "connected")
    expect(page.locator("#room-name")).to_have_text("Busy")
    messages = page.locator("#message-list .message")
    expect(messages.last).to_have_text(re.compile("history 299"))
    loaded = messages.count()
    assert loaded < 300

    # Scrolling to the top loads older messages by itself, keeping the reader's place.
    page.locator("#messages").evaluate("box => { box.scrollTop = 0; }")
    page.wait_for_function(
        "n => document.querySelectorAll('#message-list .message').length > n", arg=loaded
    )
    assert page.locator("#messages").evaluate("box => box.scrollTop") > 0

    # Scrolled up, a new message does not move the page: a pill counts it, and jumps down.
    page.locator("#messages").evaluate("box => { box.scrollTop = box.scrollHeight / 3; }")
    before = page.locator("#messages").evaluate("box => box.scrollTop")
    server.post_message(bob, room["id"], "while you were reading")
    expect(page.locator("#new-messages")).to_be_visible()
    expect(page.locator("#new-messages")).to_have_text(re.compile("^1 new message"))
    expect(messages.last).to_have_text(re.compile("while you were reading"))
    # The reader stays where they were (not pulled to the bottom); other rows may shift it a little.
    after = page.locator("#messages").evaluate("box => box.scrollTop")
    assert abs(after - before) < 100
    assert page.locator("#messages").evaluate(
        "box => box.scrollHeight - box.scrollTop - box.clientHeight > 200"
    )
    page.click("#new-messages")
    expect(page.locator("#new-messages")).to_be_hidden()
    assert page.locator("#messages").evaluate(
        "box => box.scrollHeight - box.scrollTop - box.clientHeight < 5"
    )
    # The button stays for keyboards.
    page.locator("#messages").evaluate("box => { box.scrollTop = 0; }")
    expect(page.locator("#load-older")).to_be_visible(timeout=WAIT_MS)


def test_members_grouped_current_room_announced_own_messages_marked(
    server: CampfireServer, alice: User, open_chat
) -> None:
    bob, carol = server.create_user("Bob"), server.create_user("Carol")
    room = server.create_room(alice, "Team", [bob, carol])
    server.create_room(alice, "Other", [])
    chat = open_chat(alice)
    page = chat.page
    chat.open_room("Team")
    expect(page.locator("#banner")).to_have_attribute("data-state", "connected")

    # Online first, then the others, each under its own heading; the title counts everyone.
    expect(page.locator("#members-title")).to_have_text("Members (3)")
    expect(page.locator("#member-list > li")).to_have_text(
        ["Online — 1", "Alice (online)", "Offline — 2", "Bob (offline)", "Carol (offline)"]
    )

    current = page.locator('#room-list .room-button[aria-current="page"]')
    expect(current).to_have_count(1)
    expect(current).to_contain_text("Team")

    server.post_message(bob, room["id"], "from Bob")
    chat.send("from me")
    expect(chat.messages()).to_have_text(["from Bob", "from me"])
    mine = page.locator("#message-list .message.mine:not(.pending)")
    expect(mine).to_have_count(1)
    expect(mine.locator(".you-badge")).to_have_text("you")
    expect(page.locator("#message-list .message:not(.mine) .you-badge")).to_have_count(0)
    assert mine.evaluate("m => getComputedStyle(m).boxShadow") != "none"
