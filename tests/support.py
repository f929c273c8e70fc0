"""Test helpers: a real `campfire serve` process, an HTTP API client, and socket clients.

Everything talks to 127.0.0.1 over real sockets; waits are on events with timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import asyncpg
import socketio

# The process helpers live in tests/processes.py; these names stay importable from here.
from tests.processes import (  # noqa: F401
    CAMPFIRE,
    ROOT,
    ServerProcess,
    free_port,
    spawn,
    stop_process,
    terminate,
)

WAIT = 10.0  # seconds: the default timeout for every wait in the tests

# Limits off, so that the shared server is not throttled by tests running one after another.
UNLIMITED = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_LOGIN_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_TYPING_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "50",
}
ADMIN_EMAIL = "admin@campfire.test"
PASSWORD = "correct horse battery"


def create_admin(server: ServerProcess) -> None:
    """`campfire user create` of the tests' admin (ADMIN_EMAIL, PASSWORD) in the server's
    database, as an operator would make the first admin."""
    server.cli(
        *("user", "create", "--name", "Admin", "--email", ADMIN_EMAIL),
        *("--password", PASSWORD, "--admin"),
    )


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


def create_database(prefix: str = "campfire_test") -> str:
    """A fresh, empty PostgreSQL database of this run's own; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    return name


def drop_database(name: str) -> None:
    # FORCE: a server killed by a test may leave its sessions behind for a moment.
    asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_url(name: str, driver: str = "postgresql") -> str:
    return f"{driver}://postgres@127.0.0.1:5432/{name}"


@contextlib.contextmanager
def scratch_postgres(prefix: str = "campfire_test") -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards; yields its URL."""
    name = create_database(prefix)
    try:
        yield database_url(name)
    finally:
        drop_database(name)


async def _postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def new_id() -> str:
    return str(uuid.uuid4())
