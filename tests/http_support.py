"""Helpers for the HTTP API tests: a migrated SQLite file with users, and the in-process app.

Passwords are hashed with argon2 on purpose (tens of milliseconds each, more under load), so
users and their tokens are made once per module and shared; tests isolate themselves by
making their own rooms.

A test module takes its fixtures from the factories below instead of writing them again:

    seeded = seeded_fixture("http-api")          # admin, alice, bob, carol (TEAM)
    client = client_fixture()                    # the app on that file, per test
    admin, alice, bob, carol = account_fixtures(*TEAM)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.migrate import upgrade
from app.notifier import NullNotifier
from app.services import Services
from app.state import MemoryState
from tests.support import scratch_postgres

PASSWORD = "correct horse battery"
# The users most modules sign in: name -> role.
TEAM = {"admin": "admin", "alice": "member", "bob": "member", "carol": "member"}

Client = TestClient[Any, Any]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    token: str
    role: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Seeded:
    """A migrated database file and the accounts in it."""

    url: str
    path: Path
    accounts: dict[str, Account]

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "DATABASE_URL": self.url,
            "message_rate": 0,
            "typing_rate": 0,
            "connect_rate": 0,
            "login_rate": 0,
            **overrides,
        }
        return Settings(**values)


def seed(directory: Path, names: dict[str, str]) -> Seeded:
    """Migrate a fresh SQLite file and create the users `names` (name -> role), logged in."""
    path = directory / "campfire.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    accounts = asyncio.run(_create_accounts(url, names))
    return Seeded(url=url, path=path, accounts=accounts)


async def _create_accounts(url: str, names: dict[str, str]) -> dict[str, Account]:
    settings = Settings(DATABASE_URL=url)
    db = Database(settings.database_url)
    services = Services.build(settings, db, MemoryState(), NullNotifier())
    accounts = {}
    try:
        for name, role in names.items():
            email = f"{name}-{uuid.uuid4().hex[:6]}@campfire.test"
            user = await services.users.create(
                None, name=name.title(), email_address=email, password=PASSWORD, role=role
            )
            token, _ = await services.auth.login(email, PASSWORD)
            accounts[name] = Account(id=user.id, email=email, token=token, role=role)
    finally:
        await db.close()
    return accounts


# ---- fixture factories ----------------------------------------------------------------


def seeded_fixture(tag: str, users: dict[str, str] = TEAM, *, postgres: bool = False) -> Any:
    """A module's `seeded` fixture: one migrated SQLite file with `users` signed in; with
    `postgres`, each test runs a second time on a scratch PostgreSQL database."""
    if not postgres:

        @pytest.fixture(scope="module", name="seeded")
        def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
            return seed(tmp_path_factory.mktemp(tag), users)

        return seeded

    @pytest.fixture(scope="module", name="seeded", params=["sqlite", "postgresql"])
    def seeded_both(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Seeded]:
        if request.param == "sqlite":
            yield seed(tmp_path_factory.mktemp(tag), users)
            return
        with scratch_postgres(f"campfire_{tag.replace('-', '_')}") as url:
            upgrade(url)
            accounts = asyncio.run(_create_accounts(url, users))
            yield Seeded(url=url, path=Path("/nonexistent"), accounts=accounts)

    return seeded_both


def client_fixture(**overrides: Any) -> Any:
    """A module's `client` fixture: the real app on the `seeded` file, with these settings."""

    @pytest.fixture(name="client")
    async def client(aiohttp_client: AiohttpClient, seeded: Seeded) -> Client:
        return await aiohttp_client(create_app(seeded.settings(**overrides)))

    return client


def account_fixtures(*names: str) -> list[Any]:
    """One fixture per name, each the `seeded` account of that name."""

    def account_fixture(name: str) -> Any:
        @pytest.fixture(name=name)
        def account(seeded: Seeded) -> Account:
            return seeded.accounts[name]

        return account

    return [account_fixture(name) for name in names]


# ---- requests -----------------------------------------------------------------------


async def create_room(
    client: Client, who: Account, kind: str = "closed", *members: Account, **extra: Any
) -> dict[str, Any]:
    """`POST /api/rooms` by `who` with `members` (and any other field); the room created."""
    body = {"name": f"{kind} room", "kind": kind, "member_ids": [m.id for m in members], **extra}
    _, data = await call(client, "POST", "/api/rooms", who, json=body, expect=201)
    return data["room"]


async def new_room_id(
    client: Client, who: Account, *members: Account, kind: str = "closed", **extra: Any
) -> str:
    """The id of a room made by `create_room`."""
    return (await create_room(client, who, kind, *members, **extra))["id"]


async def call(
    client: Client,
    method: str,
    path: str,
    who: Account | None = None,
    *,
    json: Any = None,
    data: bytes | str | None = None,
    expect: int | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """One request; returns (status, parsed JSON or None). Error answers must be `{error, code}`."""
    headers = dict(kwargs.pop("headers", {}))
    if who is not None:
        headers.update(who.auth)
    if json is not None:
        data = orjson.dumps(json)
        headers.setdefault("Content-Type", "application/json")
    async with client.request(method, path, data=data, headers=headers, **kwargs) as response:
        body = await response.read()
        parsed = None
        if response.content_type == "application/json":
            parsed = orjson.loads(body)
        if response.status >= 400:
            assert response.content_type == "application/json", (response.status, body[:200])
            assert isinstance(parsed, dict) and set(parsed) == {"error", "code"}, parsed
            assert isinstance(parsed["error"], str) and parsed["error"], parsed
        if expect is not None:
            assert response.status == expect, (response.status, parsed or body[:300])
        return response.status, parsed
