"""Test helpers: a real `campfire serve` process, an HTTP API client, and socket clients.

Everything talks to 127.0.0.1 over real sockets; waits are on events with timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import socketio

ROOT = Path(__file__).resolve().parent.parent
CAMPFIRE = [sys.executable, "-m", "app.cli"]
WAIT = 10.0  # seconds: the default timeout for every wait in the tests

# Limits off, so that the shared server is not throttled by tests running one after another.
UNLIMITED = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_TYPING_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "50",
}
ADMIN_EMAIL = "admin@campfire.test"
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(
    command: list[str], env: dict[str, str], log_path: Path, port: int
) -> subprocess.Popen[bytes]:
    """Start a child process and wait until it listens on `port` on 127.0.0.1."""
    log = log_path.open("ab")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited: {log_path.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)  # polling a port that is not yet open, not synchronising
    stop_process(process, signal.SIGKILL, 5)
    raise RuntimeError(f"{command} did not start: {log_path.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen[Any], sig: int, timeout: float) -> int:
    """Signal a child we started (by its PID) and reap it, killing it if it lingers."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(5)


@dataclass
class ServerProcess:
    """One `campfire serve` child process with its own working directory and database."""

    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"serve-{self.port}.log"

    def full_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")}
        env.pop("REDIS_URL", None)
        env.setdefault("DATABASE_URL", f"sqlite:///{self.workdir / 'campfire.sqlite3'}")
        env.update(self.env)
        env.update({"PORT": str(self.port), "HOST": "127.0.0.1"})
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CAMPFIRE, *args],
            cwd=ROOT,
            env=self.full_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    def start(self) -> None:
        self.process = spawn([*CAMPFIRE, "serve"], self.full_env(), self.log_path, self.port)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        if self.process is None:
            return None
        code = stop_process(self.process, sig, timeout)
        self.process = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


class Api:
    """A signed-in user's view of the HTTP API."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str, user: dict[str, Any]):
        self.http = http
        self.base = base
        self.token = token
        self.user = user

    @property
    def id(self) -> str:
        return self.user["id"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(
        self, method: str, path: str, json: Any = None, expect: int | None = None, **kw: Any
    ) -> tuple[int, Any]:
        async with self.http.request(
            method, self.base + path, json=json, headers=self.headers, **kw
        ) as response:
            data = await response.json() if response.content_type == "application/json" else None
            if expect is not None:
                assert response.status == expect, (response.status, data)
            return response.status, data

    async def create_user(self, name: str, role: str = "member") -> dict[str, Any]:
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@campfire.test"
        _, data = await self.call(
            "POST",
            "/api/users",
            {"name": name, "email_address": email, "password": PASSWORD, "role": role},
            expect=201,
        )
        return {**data["user"], "email_address": email}

    async def create_room(
        self, name: str = "room", kind: str = "open", member_ids: list[str] | None = None
    ) -> dict[str, Any]:
        _, data = await self.call(
            "POST",
            "/api/rooms",
            {"name": name, "kind": kind, "member_ids": member_ids or []},
            expect=201,
        )
        return data["room"]

    async def send(self, room_id: str, content: str, client_message_id: str | None = None) -> Any:
        body: dict[str, Any] = {"content": content}
        if client_message_id:
            body["client_message_id"] = client_message_id
        _, data = await self.call("POST", f"/api/rooms/{room_id}/messages", body, expect=201)
        return data["message"]

    async def history(self, room_id: str, **query: Any) -> list[dict[str, Any]]:
        _, data = await self.call("GET", f"/api/rooms/{room_id}/messages", params=query, expect=200)
        return data["messages"]


async def login(
    http: aiohttp.ClientSession, base: str, email: str, password: str = PASSWORD
) -> Api:
    async with http.post(
        base + "/api/session", json={"email_address": email, "password": password}
    ) as response:
        assert response.status == 201, await response.text()
        data = await response.json()
    return Api(http, base, data["token"], data["user"])


class Client:
    """A python-socketio client that records every event and lets a test wait for one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.sio.on("*", self._record)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("connect_error", self._on_refused)
        self.disconnected = asyncio.Event()
        self.refusal: Any = None  # the server's `{message, data}` when it refused us

    async def _on_refused(self, data: Any = None) -> None:
        self.refusal = data

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))
        self._changed.set()

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()
        self._changed.set()

    async def connect(self, url_suffix: str = "", **kwargs: Any) -> Client:
        kwargs.setdefault("transports", ["websocket"])
        kwargs.setdefault("wait_timeout", WAIT)
        await self.sio.connect(self.url + url_suffix, **kwargs)
        return self

    async def refused(self, url_suffix: str = "", **kwargs: Any) -> dict[str, Any]:
        """Connect expecting a refusal; return its data `{code, message, retry_after?}`."""
        try:
            await self.connect(url_suffix, **kwargs)
        except socketio.exceptions.ConnectionError:
            assert isinstance(self.refusal, dict), self.refusal
            return self.refusal["data"] if "data" in self.refusal else self.refusal
        await self.close()
        raise AssertionError("the connection was accepted")

    async def wait_for(
        self,
        event: str,
        predicate: Callable[[Any], bool] = lambda _: True,
        *,
        timeout: float = WAIT,
        after: int = 0,
    ) -> Any:
        """The first `event` (from index `after` on) whose data satisfies `predicate`."""

        async def scan() -> Any:
            while True:
                for name, data in self.events[after:]:
                    if name == event and predicate(data):
                        return data
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def synced(self, timeout: float = WAIT) -> Any:
        return await self.wait_for("SyncComplete", timeout=timeout)

    def named(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def call(self, event: str, data: Any = None, timeout: float = WAIT) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll a condition that no event announces (e.g. a row appearing), with a deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def metric(http: aiohttp.ClientSession, base: str, name: str) -> float:
    async with http.get(base + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def wait_for_metric(
    http: aiohttp.ClientSession, base: str, name: str, value: float, timeout: float = WAIT
) -> None:
    """Wait until the server's /metrics shows `name` at `value` (for effects no event shows)."""
    deadline = time.monotonic() + timeout
    while (current := await metric(http, base, name)) != value:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} is {current}, not {value}")
        await asyncio.sleep(0.02)


POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def scratch_postgres(prefix: str = "campfire_test") -> Iterator[str]:
    """A fresh, empty PostgreSQL database of this run's own, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        # FORCE: a server killed by a test may leave its sessions behind for a moment.
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def new_id() -> str:
    return str(uuid.uuid4())


def terminate(process: subprocess.Popen[Any]) -> None:
    stop_process(process, signal.SIGTERM, 10)
