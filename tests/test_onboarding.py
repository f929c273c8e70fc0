"""First run and join links (PROTOCOL.md 9.3), against the real app on an empty SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade
from tests.http_support import PASSWORD, call

Client = TestClient[Any, Any]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path) -> Client:
    url = f"sqlite:///{tmp_path / 'campfire.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(DATABASE_URL=url, message_rate=0, login_rate=0, connect_rate=0)
    return await aiohttp_client(create_app(settings))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def person(name: str) -> dict[str, str]:
    return {"name": name, "email_address": f"{name.lower()}@campfire.test", "password": PASSWORD}


async def test_first_run_creates_the_admin_and_all_talk(client: Client) -> None:
    _, status = await call(client, "GET", "/api/setup", expect=200)
    assert status == {"needed": True}

    _, data = await call(client, "POST", "/api/setup", json=person("Ada"), expect=201)
    assert set(data) == {"token", "user"}
    assert data["user"]["role"] == "admin" and data["user"]["name"] == "Ada"
    assert data["user"]["avatar_url"]
    _, rooms = await call(client, "GET", "/api/rooms", headers=bearer(data["token"]), expect=200)
    assert [(r["name"], r["kind"]) for r in rooms["rooms"]] == [("All Talk", "open")]

    _, status = await call(client, "GET", "/api/setup", expect=200)
    assert status == {"needed": False}
    _, again = await call(client, "POST", "/api/setup", json=person("Eve"), expect=409)
    assert again["code"] == "conflict"
    # Eve was not created.
    await call(
        client,
        "POST",
        "/api/session",
        json={"email_address": "eve@campfire.test", "password": PASSWORD},
        expect=401,
    )


async def test_concurrent_first_runs_make_one_admin(client: Client) -> None:
    answers = await asyncio.gather(
        *(call(client, "POST", "/api/setup", json=person(f"Admin{i}")) for i in range(5))
    )
    assert sorted(status for status, _ in answers) == [201, 409, 409, 409, 409]


@pytest.mark.parametrize(
    "payload",
    [{}, {"name": "A", "email_address": "a@b.c", "password": "short"}, {"name": "A"}],
    ids=["empty", "short-password", "missing-fields"],
)
async def test_setup_refuses_bad_input(client: Client, payload: dict[str, Any]) -> None:
    _, data = await call(client, "POST", "/api/setup", json=payload, expect=422)
    assert data["code"] == "invalid_message_format"
    _, status = await call(client, "GET", "/api/setup", expect=200)
    assert status == {"needed": True}


async def test_join_link_signs_up_a_member_into_all_talk(client: Client) -> None:
    _, admin = await call(client, "POST", "/api/setup", json=person("Ada"), expect=201)
    admin_auth = bearer(admin["token"])
    _, link = await call(client, "GET", "/api/account/join_code", headers=admin_auth, expect=200)
    assert set(link) == {"code", "url"}
    assert link["url"].endswith(f"/join/{link['code']}")
    _, same = await call(client, "GET", "/api/account/join_code", headers=admin_auth, expect=200)
    assert same == link

    _, joined = await call(
        client, "POST", f"/api/join/{link['code']}", json=person("Bob"), expect=201
    )
    assert joined["user"]["role"] == "member"
    bob_auth = bearer(joined["token"])
    _, rooms = await call(client, "GET", "/api/rooms", headers=bob_auth, expect=200)
    assert [r["name"] for r in rooms["rooms"]] == ["All Talk"]
    assert set(rooms["rooms"][0]["member_ids"]) == {admin["user"]["id"], joined["user"]["id"]}

    # Members may not read or rotate the link.
    for method in ("GET", "POST"):
        _, refused = await call(
            client, method, "/api/account/join_code", headers=bob_auth, expect=403
        )
        assert refused["code"] == "forbidden"
    await call(client, "GET", "/api/account/join_code", expect=401)

    # A taken address is a conflict; a wrong code is not_found.
    _, taken = await call(
        client, "POST", f"/api/join/{link['code']}", json=person("Bob"), expect=409
    )
    assert taken["code"] == "conflict"
    _, wrong = await call(client, "POST", "/api/join/not-the-code", json=person("Cy"), expect=404)
    assert wrong["code"] == "not_found"

    # Rotating: the old code stops working, the new one works.
    _, rotated = await call(
        client, "POST", "/api/account/join_code", headers=admin_auth, expect=200
    )
    assert rotated["code"] != link["code"]
    await call(client, "POST", f"/api/join/{link['code']}", json=person("Cy"), expect=404)
    await call(client, "POST", f"/api/join/{rotated['code']}", json=person("Cy"), expect=201)


async def test_admin_made_members_join_auto_join_rooms_too(client: Client) -> None:
    _, admin = await call(client, "POST", "/api/setup", json=person("Ada"), expect=201)
    auth = bearer(admin["token"])
    _, created = await call(
        client,
        "POST",
        "/api/rooms",
        headers=auth,
        json={"name": "Watercooler", "kind": "open"},
        expect=201,
    )
    room_id = created["room"]["id"]
    _, flagged = await call(
        client, "PATCH", f"/api/rooms/{room_id}", headers=auth, json={"auto_join": True}
    )
    assert flagged["room"]["id"] == room_id
    await call(client, "POST", "/api/users", headers=auth, json=person("Dee"), expect=201)
    _, session = await call(
        client,
        "POST",
        "/api/session",
        json={"email_address": "dee@campfire.test", "password": PASSWORD},
        expect=201,
    )
    _, rooms = await call(client, "GET", "/api/rooms", headers=bearer(session["token"]))
    assert sorted(r["name"] for r in rooms["rooms"]) == ["All Talk", "Watercooler"]
    # Only admins choose auto_join rooms, and only open ones.
    _, refused = await call(
        client,
        "PATCH",
        f"/api/rooms/{room_id}",
        headers=bearer(session["token"]),
        json={"auto_join": False},
        expect=403,
    )
    assert refused["code"] == "forbidden"
    _, closed = await call(
        client, "POST", "/api/rooms", headers=auth, json={"name": "Board", "kind": "closed"}
    )
    _, refused = await call(
        client,
        "PATCH",
        f"/api/rooms/{closed['room']['id']}",
        headers=auth,
        json={"auto_join": True},
        expect=403,
    )
    assert refused["code"] == "forbidden"
