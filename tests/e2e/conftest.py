"""End-to-end fixtures: a live `campfire serve` child process and headless Chromium.

The server runs on a free 127.0.0.1 port with a fresh SQLite database in the test's own temporary
directory; it can be stopped and started again on the same port and database (the outage test).
The browser is Debian's chromium driven by Playwright; no browser is ever downloaded.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT, ServerProcess, free_port  # noqa: F401 (ROOT: re-exported)

CHROMIUM = os.environ.get("CAMPFIRE_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a long enough password"
WAIT_MS = 15_000  # default timeout of every browser wait


def pytest_configure(config: pytest.Config) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    config.addinivalue_line(
        "markers", "e2e: end-to-end test in headless Chromium against a live server"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


class HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class User:
    id: str
    name: str
    email: str
    password: str
    token: str
    server: CampfireServer


class CampfireServer(ServerProcess):
    """`campfire serve` as a child process (tests/processes.py), with its HTTP API as calls.

    It keeps its port, database and environment across `stop()` and `start()` (the outage test).
    """

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        # Browsers reconnect and many contexts share 127.0.0.1: no per-IP connect limit.
        limits_off = {
            "CAMPFIRE_CONNECT_RATE": "0",
            "CAMPFIRE_LOGIN_RATE": "0",
            "CAMPFIRE_MESSAGE_RATE": "0",
            "CAMPFIRE_TYPING_RATE": "0",
        }
        super().__init__(workdir=workdir, env={**limits_off, **(env or {})})
        self.root: User | None = None  # the admin made with the CLI, who creates the others

    @property
    def db_path(self) -> Path:
        return self.workdir / "campfire.sqlite3"

    # ----- HTTP API ------------------------------------------------------------------------

    def api(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                raw = res.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            raise HttpError(err.code, parsed) from None

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        return self.api("POST", "/api/session", body={"email_address": email, "password": password})

    def bootstrap(self) -> User:
        """Create the first admin with `campfire user create --admin`."""
        email = f"root-{uuid.uuid4().hex[:6]}@example.com"
        self.cli(
            "user", "create", "--name", "Root", "--email", email, "--password", PASSWORD, "--admin"
        )
        session = self.sign_in(email, PASSWORD)
        self.root = User(session["user"]["id"], "Root", email, PASSWORD, session["token"], self)
        return self.root

    def create_user(self, name: str) -> User:
        """A new member (unique email), created by the root admin over POST /api/users."""
        assert self.root is not None, "bootstrap() first"
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        self.api(
            "POST",
            "/api/users",
            self.root.token,
            {"name": name, "email_address": email, "password": PASSWORD},
        )
        session = self.sign_in(email, PASSWORD)
        return User(session["user"]["id"], name, email, PASSWORD, session["token"], self)

    def create_room(
        self, owner: User, name: str, members: list[User], kind: str = "open"
    ) -> dict[str, Any]:
        room = self.api("POST", "/api/rooms", owner.token, {"name": name, "kind": kind})["room"]
        for m in members:
            self.api("POST", f"/api/rooms/{room['id']}/members", owner.token, {"user_id": m.id})
        return room

    def post_message(self, user: User, room_id: str, content: str) -> dict[str, Any]:
        body = {"content": content, "client_message_id": str(uuid.uuid4())}
        return self.api("POST", f"/api/rooms/{room_id}/messages", user.token, body)["message"]

    def messages(self, user: User, room_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/rooms/{room_id}/messages?limit=200", user.token)["messages"]


def _run_server(workdir: Path) -> Iterator[CampfireServer]:
    server = CampfireServer(workdir)
    server.start()
    try:
        server.bootstrap()
        yield server
    finally:
        server.stop()
        sys.stderr.write(f"--- campfire serve log (tail) ---\n{server.log_tail()}\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CampfireServer]:
    """A live server shared by a test module; tests isolate themselves by their own users."""
    yield from _run_server(tmp_path_factory.mktemp("campfire"))


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[CampfireServer]:
    """A live server of the test's own, which the test may stop and start again."""
    yield from _run_server(tmp_path / "campfire")


@pytest.fixture
def alice(server: CampfireServer) -> User:
    return server.create_user("Alice")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API marks an asyncio loop as running in this
    # thread while it is active, which the async tests of other modules must not inherit.
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# An init script for browser contexts whose WebSockets cannot get through (a proxy that blocks
# them): while sessionStorage.campfire_block_ws is "1", every socket.io WebSocket goes to a closed
# 127.0.0.1 port instead, and fails at once like a refused upgrade. HTTP is not touched.
BLOCK_WEBSOCKETS = """(() => {
  const Real = window.WebSocket;
  const refused = 'ws://127.0.0.1:%d/blocked';
  class BlockableWebSocket extends Real {
    constructor(url, protocols) {
      const blocked = sessionStorage.getItem('campfire_block_ws') === '1';
      super(blocked && String(url).includes('/socket.io/') ? refused : url, protocols);
    }
  }
  window.WebSocket = BlockableWebSocket;
})();"""


def block_websockets(context: Any) -> None:
    """Install BLOCK_WEBSOCKETS in a browser context (effective from its next page load)."""
    context.add_init_script(BLOCK_WEBSOCKETS % free_port())


class ChatPage:
    """One signed-in user's browser tab on the chat UI."""

    def __init__(self, page: Any, user: User) -> None:
        self.page = page
        self.server = user.server
        self.user = user
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.set_default_timeout(WAIT_MS)

    def sign_in(self) -> ChatPage:
        self.page.goto(self.server.url + "/")
        self.page.fill("#signin-email", self.user.email)
        self.page.fill("#signin-password", self.user.password)
        self.page.click("#signin-submit")
        self.page.wait_for_selector("#chat:not([hidden])")
        return self

    def banner(self) -> Any:
        return self.page.locator("#banner")

    def open_room(self, name: str) -> None:
        if self.page.locator("#toggle-sidebar").is_visible():
            self.page.click("#toggle-sidebar")
        self.page.locator("#room-list .room-button", has_text=name).click()
        self.page.wait_for_function(
            "name => document.getElementById('room-name').textContent === name", arg=name
        )

    def send(self, text: str) -> None:
        box = self.page.locator("#composer-input")
        box.fill(text)
        box.press("Enter")

    def messages(self) -> Any:
        return self.page.locator("#message-list .message:not(.pending) .message-content")

    def pending(self) -> Any:
        return self.page.locator("#message-list .message.pending .message-content")


@pytest.fixture
def open_chat(browser: Any) -> Iterator[Any]:
    """open_chat(user, **context_options) -> a signed-in ChatPage in its own browser context."""
    contexts: list[Any] = []

    def make(user: User, **options: Any) -> ChatPage:
        context = browser.new_context(**options)
        contexts.append(context)
        return ChatPage(context.new_page(), user).sign_in()

    yield make
    for context in contexts:
        context.close()
