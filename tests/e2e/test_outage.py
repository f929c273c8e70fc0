"""The server goes away mid-conversation and comes back: the web client recovers on its own.

- the connection banner shows the outage and the recovery;
- messages typed during the outage are shown as pending, then delivered exactly once;
- messages another user sends over HTTP while a client is cut off reach it, in order, from its
  resume cursor.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CampfireServer, User

RECOVERY_MS = 45_000  # the backoff may be waiting up to 16 s when the server comes back

RECORD_SOURCES = """() => {
  window.__sources = [];
  window.campfire.on('message', (e) => window.__sources.push([e.message.content, e.source]));
}"""


@pytest.mark.timeout(180)
def test_a_server_restart_loses_nothing_and_queued_messages_go_once(
    own_server: CampfireServer, open_chat
) -> None:
    server = own_server  # stopped and started again below
    alice = server.create_user("Alice")
    bob = server.create_user("Bob")
    carol = server.create_user("Carol")
    room = server.create_room(alice, "ops", [bob, carol])
    alice_page = open_chat(alice)
    bob_page = open_chat(bob)
    a, b = alice_page.page, bob_page.page
    for p in (a, b):
        expect(p.locator("#banner")).to_have_attribute("data-state", "connected")
        expect(p.locator("#room-name")).to_have_text("ops")
    b.evaluate(RECORD_SOURCES)

    alice_page.send("before the outage")
    expect(bob_page.messages()).to_have_text(["before the outage"])

    # The server stops (SIGTERM): both banners say so and count down to the next attempt.
    server.stop()
    for p in (a, b):
        expect(p.locator("#banner")).to_have_attribute(
            "data-state", re.compile("reconnecting|connecting")
        )
        expect(p.locator("#banner-text")).to_have_text(
            re.compile(r"Reconnecting in \d+ s|Connecting")
        )
    expect(a.locator("#banner-text")).to_have_text(re.compile(r"Reconnecting in \d+ s"))

    # Bob's network is cut as well, so that he is still away when the server is back.
    b.context.set_offline(True)

    # Alice writes while the server is down: kept and shown as pending.
    alice_page.send("written during the outage 1")
    alice_page.send("written during the outage 2")
    expect(alice_page.pending()).to_have_text(
        ["written during the outage 1", "written during the outage 2"]
    )
    expect(a.locator("#banner-queue")).to_have_text("2 messages waiting to be sent.")
    queued = a.evaluate("JSON.parse(localStorage.getItem(`campfire:${campfire.userId}:queue`))")
    assert [q["content"] for q in queued] == [
        "written during the outage 1",
        "written during the outage 2",
    ]

    # The server comes back on the same port and database; Carol sends over HTTP while Bob is
    # still cut off.
    server.start()
    server.post_message(carol, room["id"], "carol over http 1")
    server.post_message(carol, room["id"], "carol over http 2")
    expect(b.locator("#banner")).not_to_have_attribute("data-state", "connected")

    # Alice reconnects by herself (backoff) and her queued messages go out.
    expect(a.locator("#banner")).to_have_attribute("data-state", "connected", timeout=RECOVERY_MS)
    expect(alice_page.pending()).to_have_count(0, timeout=RECOVERY_MS)

    # Bob's network is back: he catches up from his cursor.
    b.context.set_offline(False)
    expect(b.locator("#banner")).to_have_attribute("data-state", "connected", timeout=RECOVERY_MS)

    stored = [m["content"] for m in server.messages(alice, room["id"])]
    assert sorted(stored) == sorted(
        [
            "before the outage",
            "written during the outage 1",
            "written during the outage 2",
            "carol over http 1",
            "carol over http 2",
        ]
    ), stored  # each exactly once on the server
    assert stored.index("written during the outage 1") < stored.index("written during the outage 2")
    assert stored.index("carol over http 1") < stored.index("carol over http 2")
    # Both browsers show exactly the server's messages, each once, in seq order.
    expect(alice_page.messages()).to_have_text(stored, timeout=RECOVERY_MS)
    expect(bob_page.messages()).to_have_text(stored, timeout=RECOVERY_MS)
    expect(a.locator("#banner-text")).to_have_text("Up to date")
    assert a.evaluate("localStorage.getItem(`campfire:${campfire.userId}:queue`)") is None

    # Bob got Carol's messages by resume cursor (replayed on reconnect), not live.
    sources = dict(b.evaluate("window.__sources"))
    assert sources["carol over http 1"] == "replay", sources
    assert sources["carol over http 2"] == "replay", sources

    # The conversation goes on.
    bob_page.send("back again")
    expect(alice_page.messages()).to_have_text([*stored, "back again"])
    assert not alice_page.errors and not bob_page.errors, alice_page.errors + bob_page.errors


def test_queued_message_survives_a_reload(server: CampfireServer, alice: User, open_chat) -> None:
    """A message written while disconnected is kept in localStorage across a reload."""
    server.create_room(alice, "notes", [])
    page = open_chat(alice)
    p = page.page
    expect(p.locator("#banner")).to_have_attribute("data-state", "connected")
    # The client is shut (as by a tab being closed mid-send), the message is queued, the page
    # is reloaded.
    p.evaluate("campfire.close()")
    expect(p.locator("#banner")).to_have_attribute("data-state", "closed")
    page.send("kept across a reload")
    expect(page.pending()).to_have_text(["kept across a reload"])
    cmid = p.evaluate(
        "JSON.parse(localStorage.getItem(`campfire:${campfire.userId}:queue`))[0].client_message_id"
    )
    p.reload()
    expect(p.locator("#banner")).to_have_attribute("data-state", "connected")
    expect(page.messages()).to_have_text(["kept across a reload"])
    stored = server.messages(alice, p.evaluate("campfire.getRooms()[0].id"))
    assert [(m["content"], m["client_message_id"]) for m in stored] == [
        ("kept across a reload", cmid)
    ]


def test_after_the_last_attempt_the_ui_is_offline_until_retry(
    own_server: CampfireServer, open_chat
) -> None:
    """After the last reconnection attempt the banner says offline and offers Retry."""
    server = own_server
    alice = server.create_user("Alice")
    server.create_room(alice, "later", [])
    page = open_chat(alice)
    p = page.page
    # Fewer, faster attempts than the default 10 from 1 s (a tuning knob of the UI), and debug
    # logging on.
    p.evaluate(
        """() => {
        localStorage.setItem('campfire_client_options',
          JSON.stringify({maxReconnectAttempts: 3, backoffBaseMs: 200}));
        localStorage.setItem('campfire_debug', 'websocket');
    }"""
    )
    logs: list[str] = []
    p.on("console", lambda m: logs.append(m.text))
    p.reload()
    expect(p.locator("#banner")).to_have_attribute("data-state", "connected")
    assert any(line.startswith("[campfire] state") for line in logs), logs[:20]
    assert any("<- AuthSuccess" in line for line in logs), logs[:20]

    server.stop()
    expect(p.locator("#banner")).to_have_attribute("data-state", "offline")
    expect(p.locator("#banner-text")).to_have_text(re.compile("^Offline"))
    expect(p.locator("#banner-retry")).to_have_text("Retry")
    page.send("sent after retry")
    expect(p.locator("#message-list .message.pending .message-status")).to_have_text(
        "Waiting for connection"
    )
    # Still offline: nothing retries by itself until the user asks.
    expect(p.locator("#banner")).to_have_attribute("data-state", "offline")

    server.start()
    p.click("#banner-retry")
    expect(p.locator("#banner")).to_have_attribute("data-state", "connected")
    expect(page.messages()).to_have_text(["sent after retry"])
    expect(page.pending()).to_have_count(0)
