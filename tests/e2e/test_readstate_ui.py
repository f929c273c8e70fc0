"""Read state in the browser (PROTOCOL.md 9.2): unread counts and mention badges that follow a
person across devices, the "new messages" divider, the tab title, the involvement chooser, and
the notification switch and service worker."""

from __future__ import annotations

import urllib.request

from playwright.sync_api import expect

from tests.e2e.conftest import CampfireServer, User


def _badge(page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("#room-list .room-item", has_text=name).locator(".unread")


def test_unread_follows_the_person_across_devices(
    server: CampfireServer, alice: User, open_chat
) -> None:
    bob = server.create_user("Bob")
    lobby = server.create_room(alice, "Lobby", [bob])
    news = server.create_room(alice, "News", [bob])
    server.post_message(alice, lobby["id"], "first in the lobby")
    laptop = open_chat(bob)
    laptop.open_room("Lobby")
    phone = open_chat(bob, viewport={"width": 390, "height": 800})
    phone.page.wait_for_selector("#room-list .room-item")

    for n in range(3):
        server.post_message(alice, news["id"], f"news {n}")
    mention = {"content": "@Bob look", "mention_ids": [bob.id]}
    server.api("POST", f"/api/rooms/{news['id']}/messages", alice.token, mention)
    for device in (laptop, phone):
        expect(_badge(device.page, "News")).to_have_text("4")
        expect(
            device.page.locator("#room-list .room-item", has_text="News").locator(".mention-badge")
        ).to_be_visible()
    expect(laptop.page).to_have_title("(4) Campfire")

    # Reading News on the laptop clears it on the phone (RoomRead), and the divider sits above
    # the first unread message.
    laptop.open_room("News")
    divider = laptop.page.locator("#message-list .unread-divider")
    expect(divider).to_have_text("New messages")
    expect(divider.locator("xpath=following-sibling::li[1]")).to_contain_text("news 0")
    expect(_badge(phone.page, "News")).to_have_count(0)
    expect(phone.page).to_have_title("Campfire")
    state = server.api("GET", "/api/rooms", bob.token)["rooms"]
    read = {room["name"]: room["last_read_seq"] for room in state}
    assert read["News"] == 4
    assert not laptop.errors and not phone.errors


def test_involvement_chooser_and_hidden_rooms(
    server: CampfireServer, alice: User, open_chat
) -> None:
    bob = server.create_user("Bob")
    quiet = server.create_room(alice, "Quiet", [bob])
    chat = open_chat(bob)
    chat.open_room("Quiet")
    page = chat.page
    expect(page.locator("#involvement")).to_have_value("mentions")
    page.select_option("#involvement", "everything")
    page.wait_for_function(
        "() => window.campfire.getRooms().some(r => r.involvement === 'everything')"
    )
    rooms = server.api("GET", "/api/rooms", bob.token)["rooms"]
    assert [r["involvement"] for r in rooms if r["id"] == quiet["id"]] == ["everything"]

    page.select_option("#involvement", "invisible")
    hidden = page.locator("#hidden-rooms")
    # Still listed while it is the open room; hidden once another is opened.
    expect(page.locator("#room-list .room-button", has_text="Quiet")).to_be_visible()
    server.create_room(alice, "Elsewhere", [bob])
    expect(page.locator("#room-list .room-button", has_text="Elsewhere")).to_be_visible()
    chat.open_room("Elsewhere")
    expect(page.locator("#room-list .room-button", has_text="Quiet")).to_have_count(0)
    expect(hidden).to_be_visible()
    hidden.locator("summary").click()
    hidden.locator(".room-button", has_text="Quiet").click()
    expect(page.locator("#room-name")).to_have_text("Quiet")
    page.select_option("#involvement", "mentions")
    chat.open_room("Elsewhere")
    expect(page.locator("#room-list .room-button", has_text="Quiet")).to_be_visible()
    assert not chat.errors


def test_notifications_are_asked_for_only_on_a_click(
    server: CampfireServer, alice: User, open_chat
) -> None:
    chat = open_chat(alice)
    page = chat.page
    permission = page.evaluate("Notification.permission")
    button = page.locator("#enable-notifications")
    if permission == "default":
        # Nothing was asked on load: the switch waits for the person.
        expect(button).to_be_visible()
    else:
        expect(button).to_be_hidden()
    with urllib.request.urlopen(server.url + "/sw.js") as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
        source = response.read().decode()
    assert "notificationclick" in source and "showNotification" in source
    # A notification's link opens its room.
    room = server.create_room(alice, "Linked", [])
    page.goto(server.url + f"/?room={room['id']}")
    expect(page.locator("#room-name")).to_have_text("Linked")
    assert "room=" not in page.url
