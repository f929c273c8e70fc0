"""Two people chat in two browser contexts: rooms, members, messages, typing, presence."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import WAIT_MS, CampfireServer, User


def test_two_users_chat_with_typing_and_presence(
    server: CampfireServer, alice: User, open_chat
) -> None:
    bob = server.create_user("Bob")
    alice_page = open_chat(alice)
    bob_page = open_chat(bob)
    a, b = alice_page.page, bob_page.page
    expect(a.locator("#banner")).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    expect(a.locator("#banner-text")).to_have_text("Up to date")

    # Alice creates a closed room in the UI and adds Bob by email.
    a.fill("#create-room-name", "Project X")
    a.select_option("#create-room-kind", "closed")
    a.click("#create-room-submit")
    expect(a.locator("#room-name")).to_have_text("Project X")
    a.fill("#add-member-input", bob.email)
    a.click("#add-member-submit")

    # Bob's room list gets it live (RoomJoined), he opens it.
    expect(b.locator("#room-list .room-button", has_text="Project X")).to_be_visible()
    bob_page.open_room("Project X")

    # Presence: each sees the other online in the member list.
    expect(a.locator(f'#member-list li[data-user-id="{bob.id}"].online')).to_be_visible()
    expect(b.locator(f'#member-list li[data-user-id="{alice.id}"].online')).to_be_visible()
    expect(b.locator("#members-title")).to_have_text("Members (2)")
    expect(b.locator('#member-list .member-group[data-group="online"]')).to_have_text("Online — 2")

    # Typing shows up on the other side, and goes away when the message is sent.
    a.locator("#composer-input").press_sequentially("Hello Bo")
    expect(b.locator("#typing")).to_have_text("Alice is typing…")
    # Alice pauses: after 5 s idle her typing ends.
    expect(b.locator("#typing")).to_have_text("", timeout=15_000)
    a.locator("#composer-input").press_sequentially("b")
    expect(b.locator("#typing")).to_have_text("Alice is typing…")
    a.locator("#composer-input").press("Enter")
    expect(b.locator("#typing")).to_have_text("")
    expect(bob_page.messages()).to_have_text(["Hello Bob"])
    expect(b.locator("#message-list .message .message-author").first).to_have_text("Alice")
    expect(b.locator("#message-list .message time").first).to_have_text(re.compile(r"\d"))

    # Bob answers with two lines (Shift+Enter) and then a second message: grouped under one header.
    box = b.locator("#composer-input")
    box.press_sequentially("Hi Alice")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    box.press("Enter")
    bob_page.send("how are you?")
    expect(alice_page.messages()).to_have_text(
        ["Hello Bob", "Hi Alice\nsecond line", "how are you?"]
    )
    expect(a.locator("#message-list .message.grouped")).to_have_count(1)

    # When Bob leaves (closes his tab), Alice sees him go offline.
    b.context.close()
    expect(a.locator(f'#member-list li[data-user-id="{bob.id}"].offline')).to_be_visible()
    assert not alice_page.errors and not bob_page.errors, alice_page.errors + bob_page.errors


def test_content_is_rendered_as_text_never_html(
    server: CampfireServer, alice: User, open_chat
) -> None:
    room = server.create_room(alice, "xss", [])
    evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>'
    server.post_message(alice, room["id"], evil)
    page = open_chat(alice)
    page.open_room("xss")
    expect(page.messages()).to_have_text([evil])
    page.send("<i>mine</i> & more")
    expect(page.messages()).to_have_text([evil, "<i>mine</i> & more"])
    assert (
        page.page.locator(
            "#message-list img, #message-list script, #message-list b, #message-list i"
        ).count()
        == 0
    )
    assert page.page.evaluate("window.__pwned") is None


def test_unread_counts_show_on_other_rooms_and_clear_when_opened(
    server: CampfireServer, alice: User, open_chat
) -> None:
    bob = server.create_user("Bob")
    server.create_room(alice, "alpha", [bob])
    beta = server.create_room(alice, "beta", [bob])
    page = open_chat(bob)
    page.open_room("alpha")
    server.post_message(alice, beta["id"], "one")
    server.post_message(alice, beta["id"], "two")
    beta_item = page.page.locator("#room-list li", has_text="beta")
    expect(beta_item.locator(".unread")).to_have_text("2")
    page.open_room("beta")
    expect(page.messages()).to_have_text(["one", "two"])
    expect(beta_item.locator(".unread")).to_have_count(0)
    # Read state survives a reload.
    page.page.reload()
    expect(page.page.locator("#banner")).to_have_attribute("data-state", "connected")
    expect(page.page.locator("#room-list li", has_text="beta").locator(".unread")).to_have_count(0)
    expect(page.messages()).to_have_text(["one", "two"])


def test_sign_out_revokes_the_session(server: CampfireServer, alice: User, open_chat) -> None:
    page = open_chat(alice)
    expect(page.page.locator("#banner")).to_have_attribute("data-state", "connected")
    token = page.page.evaluate("JSON.parse(localStorage.getItem('campfire:session')).token")
    page.page.click("#signout")
    expect(page.page.locator("#signin")).to_be_visible()
    assert page.page.evaluate("localStorage.getItem('campfire:session')") is None
    try:
        server.api("GET", "/api/me", token)
    except Exception as err:  # HttpError
        assert getattr(err, "status", None) == 401
    else:
        raise AssertionError("the token still works after sign-out")


def test_wrong_password_is_refused(server: CampfireServer, alice: User, browser) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        page.fill("#signin-email", alice.email)
        page.fill("#signin-password", "not the password")
        page.click("#signin-submit")
        expect(page.locator("#signin-error")).to_have_text(
            "Wrong email or password.", timeout=WAIT_MS
        )
    finally:
        context.close()


def test_on_a_phone_the_page_never_scrolls_sideways_and_drawers_open(
    server: CampfireServer, alice: User, open_chat
) -> None:
    bob = server.create_user("Bob")
    server.create_room(alice, "mobile", [bob])
    page = open_chat(bob, viewport={"width": 375, "height": 700}, is_mobile=True, has_touch=True)
    p = page.page
    expect(p.locator("#sidebar")).not_to_be_in_viewport()
    page.open_room("mobile")  # through the drawer
    expect(p.locator("#sidebar")).not_to_be_in_viewport()
    page.send("a " + "very" * 60 + " long word from a phone")
    expect(page.messages()).to_have_count(1)
    overflow = p.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page scrolls sideways by {overflow}px"
    p.click("#toggle-members")
    expect(p.locator(f'#member-list li[data-user-id="{bob.id}"]')).to_be_in_viewport()
