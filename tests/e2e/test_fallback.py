"""When WebSockets cannot get through but HTTP works, the client polls over HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

from playwright.sync_api import expect

from tests.e2e.conftest import ROOT, CampfireServer, User, block_websockets

RECORD_TYPING = """() => {
  window.__typing = [];
  window.campfire.on('typingStart', (e) => window.__typing.push(e.user_id));
}"""


def test_blocked_websockets_fall_back_to_polling_and_retry_goes_live(
    server: CampfireServer, alice: User, browser, open_chat
) -> None:
    bob = server.create_user("Bob")
    server.create_room(alice, "fallback", [bob])
    alice_page = open_chat(alice)
    a = alice_page.page
    expect(a.locator("#banner")).to_have_attribute("data-state", "connected")
    a.evaluate(RECORD_TYPING)

    # Bob is behind something that blocks WebSockets; HTTP gets through.
    context = browser.new_context()
    try:
        block_websockets(context)
        page = context.new_page()
        page.goto(server.url + "/")
        page.evaluate("sessionStorage.setItem('campfire_block_ws', '1')")
        page.fill("#signin-email", bob.email)
        page.fill("#signin-password", bob.password)
        page.click("#signin-submit")
        expect(page.locator("#banner")).to_have_attribute("data-state", "polling")
        expect(page.locator("#banner-text")).to_have_text(re.compile("checking for new messages"))
        expect(page.locator("#room-name")).to_have_text("fallback")

        # Messages both ways: Bob's over HTTP POST, Alice's reach him by polling.
        alice_page.send("are you there?")
        expect(page.locator("#message-list .message:not(.pending) .message-content")).to_have_text(
            ["are you there?"]
        )
        box = page.locator("#composer-input")
        box.press_sequentially("yes, polling")
        box.press("Enter")
        expect(alice_page.messages()).to_have_text(["are you there?", "yes, polling"])
        expect(page.locator("#message-list .message:not(.pending) .message-content")).to_have_text(
            ["are you there?", "yes, polling"]
        )
        # Typing indicators are off while polling: Bob's typing was never announced.
        assert a.evaluate("window.__typing") == []

        # Presence is shown as "recently active".
        expect(page.locator('#member-list .member-group[data-group="recent"]')).to_have_text(
            re.compile(r"^Recently active — \d+$")
        )
        expect(page.locator(f'#member-list li[data-user-id="{alice.id}"].recent')).to_be_visible()

        # WebSockets get through again: "Retry now" brings the live connection back.
        page.evaluate("sessionStorage.removeItem('campfire_block_ws')")
        page.click("#banner-retry")
        expect(page.locator("#banner")).to_have_attribute("data-state", "connected")
        expect(page.locator('#member-list .member-group[data-group="online"]')).to_be_visible()
        alice_page.send("live again")
        expect(page.locator("#message-list .message:not(.pending) .message-content")).to_have_text(
            ["are you there?", "yes, polling", "live again"]
        )
    finally:
        context.close()


def test_campfire_client_runs_in_plain_node(server: CampfireServer, alice: User) -> None:
    """CampfireClient runs outside the browser with the real socket.io-client from npm."""
    node = shutil.which("node")
    assert node, "node is required for the web client tests"
    assert (ROOT / "web" / "node_modules" / "socket.io-client").is_dir(), "run `npm ci` in web/"
    room = server.create_room(alice, "bots", [])
    env = {
        **os.environ,
        "CAMPFIRE_URL": server.url,
        "CAMPFIRE_EMAIL": alice.email,
        "CAMPFIRE_PASSWORD": alice.password,
    }
    done = subprocess.run(
        [node, "examples/socket-bot.mjs", "--once"],
        cwd=ROOT / "web",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines[0] == {"event": "synced", "user": alice.id, "rooms": [room["id"]]}
    assert lines[1]["event"] == "message"
    assert lines[1]["content"] == "echo-bot ready"
    assert lines[1]["seq"] == 1
    assert [m["content"] for m in server.messages(alice, room["id"])] == ["echo-bot ready"]


def test_over_the_connection_limit_a_tab_polls(tmp_path, open_chat) -> None:
    """Refused with too_many_connections, a further tab still works, over HTTP polling."""
    server = CampfireServer(tmp_path / "campfire", env={"CAMPFIRE_MAX_CONNECTIONS_PER_USER": "1"})
    server.start()
    try:
        server.bootstrap()
        alice = server.create_user("Alice")
        bob = server.create_user("Bob")
        room = server.create_room(alice, "limits", [bob])
        first = open_chat(alice)
        expect(first.page.locator("#banner")).to_have_attribute("data-state", "connected")
        second = first.page.context.new_page()  # a second tab of the same user
        second.goto(server.url + "/")
        expect(second.locator("#banner")).to_have_attribute("data-state", "polling")
        refusal = second.evaluate("window.campfire.lastConnectError")
        assert refusal["code"] == "too_many_connections", refusal
        server.post_message(bob, room["id"], "to both tabs")
        for page in (first.page, second):
            expect(
                page.locator("#message-list .message:not(.pending) .message-content")
            ).to_have_text(["to both tabs"])
    finally:
        server.stop()
