"""End-to-end fixtures: a live `campfire serve` child process and headless Chromium.

The server runs on a free 127.0.0.1 port with a fresh SQLite database in the test's own temporary
directory; it can be stopped and started again on the same port and database (the outage test).
The browser is Debian's chromium driven by Playwright; no browser is ever downloaded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def _campfire_command() -> list[str]:
    script = Path(sys.executable).with_name("campfire")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "app.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class CampfireServer:
    """`campfire serve` as a child process, with helpers to call its HTTP API."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.db_path = workdir / "campfire.sqlite3"
        self.log_path = workdir / "serve.log"
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.root: User | None = None  # the admin made with the CLI, who creates the others

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")}
        env.pop("REDIS_URL", None)
        env.update(
            {
                "DATABASE_URL": f"sqlite:///{self.db_path}",
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                # Browsers reconnect and many contexts share 127.0.0.1: no per-IP connect limit.
                "CAMPFIRE_CONNECT_RATE": "0",
                "CAMPFIRE_MESSAGE_RATE": "0",
                "CAMPFIRE_TYPING_RATE": "0",
            }
        )
        env.update(self.extra_env)
        return env

    # ----- process -----------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*_campfire_command(), *args],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"campfire {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self, timeout: float = 30.0) -> None:
        assert self.process is None, "already running"
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {time.strftime('%H:%M:%S')} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*_campfire_command(), "serve"],
                cwd=self.workdir,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"campfire serve exited with {code}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as res:
                    if res.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"campfire serve not healthy in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)  # polling /healthz until it answers, with a deadline

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the process by its PID; SIGKILL if it is still there after `timeout`."""
        proc = self.process
        if proc is None:
            return None
        self.process = None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            return proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

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
    context.add_init_script(BLOCK_WEBSOCKETS % _free_port())


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
