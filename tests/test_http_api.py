"""The HTTP API of PROTOCOL.md section 7, against the real app on a real SQLite file.

`app.main.create_app` is served by pytest-aiohttp's `aiohttp_client` on 127.0.0.1; the
database is a migrated SQLite file shared by the module (see tests/http_support.py).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel

from app.http.openapi import openapi_document
from app.main import create_app
from app.schemas import AddMemberIn, CreateRoomIn, CreateUserIn, PostMessageIn, is_uuid
from tests.http_support import (
    PASSWORD,
    TEAM,
    Account,
    AiohttpClient,
    Client,
    Seeded,
    account_fixtures,
    call,
    client_fixture,
    create_room,
    seeded_fixture,
)

seeded = seeded_fixture("http-api")
client = client_fixture()
admin, alice, bob, carol = account_fixtures(*TEAM)


async def send(
    client: Client, who: Account, room_id: str, content: str, cmid: str | None = None
) -> tuple[int, Any]:
    body: dict[str, Any] = {"content": content}
    if cmid is not None:
        body["client_message_id"] = cmid
    return await call(client, "POST", f"/api/rooms/{room_id}/messages", who, json=body)


async def history(client: Client, who: Account, room_id: str, **query: Any) -> list[dict[str, Any]]:
    _, data = await call(
        client, "GET", f"/api/rooms/{room_id}/messages", who, params=query, expect=200
    )
    return data["messages"]


# ---- sessions -----------------------------------------------------------------------


async def login(client: Client, email: str, password: str = PASSWORD) -> tuple[int, Any]:
    return await call(
        client, "POST", "/api/session", json={"email_address": email, "password": password}
    )


async def test_login_returns_a_token_that_works(client: Client, alice: Account) -> None:
    # The address is matched case-insensitively, as addresses are stored lowercased.
    status, data = await login(client, alice.email.upper())
    assert status == 201
    assert set(data) == {"token", "user"}
    assert data["user"]["id"] == alice.id and data["user"]["email_address"] == alice.email
    _, me = await call(
        client,
        "GET",
        "/api/me",
        headers={"Authorization": f"Bearer {data['token']}"},
        expect=200,
    )
    assert me == {"user": data["user"]}


@pytest.mark.parametrize(
    "who, password",
    [("known", "wrong password"), ("unknown", PASSWORD)],
    ids=["wrong-password", "unknown-address"],
)
async def test_bad_credentials_are_401(
    client: Client, alice: Account, who: str, password: str
) -> None:
    email = alice.email if who == "known" else "nobody@campfire.test"
    status, data = await login(client, email, password)
    assert (status, data["code"]) == (401, "auth_failed")


@pytest.mark.parametrize(
    "header, code",
    [
        (None, "auth_required"),
        ("Bearer", "auth_required"),
        ("Basic dXNlcjpwYXNz", "auth_required"),
        ("Bearer not-a-real-token", "auth_failed"),
        ("Bearer t\u00f6ken", "auth_failed"),
    ],
    ids=["none", "empty-bearer", "basic", "unknown", "non-ascii"],
)
async def test_requests_without_a_valid_token_are_401(
    client: Client, header: str | None, code: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in [("GET", "/api/me"), ("GET", "/api/rooms"), ("DELETE", "/api/session")]:
        status, data = await call(client, method, path, headers=headers)
        assert (status, data["code"]) == (401, code), (method, path)


async def test_logout_makes_the_token_fail_at_once(client: Client, alice: Account) -> None:
    _, first = await login(client, alice.email)
    _, second = await login(client, alice.email)
    token = {"Authorization": f"Bearer {first['token']}"}
    await call(client, "GET", "/api/me", headers=token, expect=200)

    status, body = await call(client, "DELETE", "/api/session", headers=token)
    assert (status, body) == (204, None)

    for method, path in [("GET", "/api/me"), ("GET", "/api/rooms"), ("DELETE", "/api/session")]:
        status, data = await call(client, method, path, headers=token)
        assert (status, data["code"]) == (401, "auth_failed")
    # Only that session ended: the user's other login still works.
    other = {"Authorization": f"Bearer {second['token']}"}
    await call(client, "GET", "/api/me", headers=other, expect=200)


# ---- users --------------------------------------------------------------------------


async def test_admin_creates_users_and_others_may_not(
    client: Client, admin: Account, alice: Account
) -> None:
    email = f"New.Person-{uuid.uuid4().hex[:6]}@Campfire.test"
    body = {"name": "  New Person ", "email_address": email, "password": "long enough"}
    _, data = await call(client, "POST", "/api/users", admin, json=body, expect=201)
    user = data["user"]
    assert is_uuid(user["id"])
    assert user["name"] == "New Person"  # surrounding whitespace is not kept
    assert user["email_address"] == email.lower() and user["role"] == "member"

    # The new account can log in with the address in any case.
    status, _ = await login(client, email, "long enough")
    assert status == 201

    status, err = await call(client, "POST", "/api/users", admin, json=body)
    assert (status, err["code"]) == (409, "conflict")
    status, err = await call(
        client, "POST", "/api/users", admin, json={**body, "email_address": email.upper()}
    )
    assert (status, err["code"]) == (409, "conflict")

    fresh = {**body, "email_address": f"x-{uuid.uuid4().hex[:6]}@campfire.test"}
    status, err = await call(client, "POST", "/api/users", alice, json=fresh)
    assert (status, err["code"]) == (403, "forbidden")

    _, listed = await call(client, "GET", "/api/users", alice, expect=200)
    assert user["id"] in {u["id"] for u in listed["users"]}


async def test_admin_may_create_admins_and_bots(client: Client, admin: Account) -> None:
    for role in ("admin", "bot"):
        body = {
            "name": role,
            "email_address": f"{role}-{uuid.uuid4().hex[:6]}@campfire.test",
            "password": "long enough",
            "role": role,
        }
        _, data = await call(client, "POST", "/api/users", admin, json=body, expect=201)
        assert data["user"]["role"] == role


# ---- rooms and memberships ----------------------------------------------------------


async def test_rooms_are_listed_for_their_members_only(
    client: Client, alice: Account, bob: Account, carol: Account
) -> None:
    room = await create_room(client, alice, "closed", bob)
    assert room["kind"] == "closed" and room["creator_id"] == alice.id
    assert set(room["member_ids"]) == {alice.id, bob.id}
    assert room["created_at"].endswith("Z")

    for who, expected in [(alice, True), (bob, True), (carol, False)]:
        _, data = await call(client, "GET", "/api/rooms", who, expect=200)
        assert (room["id"] in {r["id"] for r in data["rooms"]}) is expected

    _, got = await call(client, "GET", f"/api/rooms/{room['id']}", bob, expect=200)
    assert got["room"]["id"] == room["id"]
    status, err = await call(client, "GET", f"/api/rooms/{room['id']}", carol)
    assert (status, err["code"]) == (403, "room_access_denied")


async def test_creating_a_room_with_an_unknown_member_is_409(
    client: Client, alice: Account, bob: Account
) -> None:
    # 404 is kept for the resource the path names; a broken reference in the body is a conflict.
    body = {"name": "r", "kind": "closed", "member_ids": [bob.id, str(uuid.uuid4())]}
    status, err = await call(client, "POST", "/api/rooms", alice, json=body)
    assert (status, err["code"]) == (409, "conflict")
    _, data = await call(client, "GET", "/api/rooms", bob, expect=200)
    assert "r" not in {room["name"] for room in data["rooms"]}  # nothing was created


async def test_a_direct_room_of_one_is_a_notes_to_self_room(client: Client, alice: Account) -> None:
    room = await create_room(client, alice, "direct")
    assert room["member_ids"] == [alice.id]


async def test_rename_by_creator_or_admin_only(
    client: Client, admin: Account, alice: Account, bob: Account, carol: Account
) -> None:
    room = await create_room(client, alice, "closed", bob)
    path = f"/api/rooms/{room['id']}"
    _, data = await call(client, "PATCH", path, alice, json={"name": " Renamed "}, expect=200)
    assert data["room"]["name"] == "Renamed"
    _, data = await call(client, "PATCH", path, admin, json={"name": "By admin"}, expect=200)
    assert data["room"]["name"] == "By admin"
    _, data = await call(client, "PATCH", path, alice, json={}, expect=200)
    assert data["room"]["name"] == "By admin"  # nothing to change

    status, err = await call(client, "PATCH", path, bob, json={"name": "x"})
    assert (status, err["code"]) == (403, "forbidden")
    status, err = await call(client, "PATCH", path, carol, json={"name": "x"})
    assert (status, err["code"]) == (403, "room_access_denied")
    status, err = await call(client, "PATCH", f"/api/rooms/{uuid.uuid4()}", alice, json={})
    assert (status, err["code"]) == (404, "not_found")


async def test_the_creator_adds_and_removes_members_and_members_may_leave(
    client: Client, alice: Account, bob: Account, carol: Account
) -> None:
    room = await create_room(client, alice, "closed")
    members = f"/api/rooms/{room['id']}/members"

    _, data = await call(client, "POST", members, alice, json={"user_id": bob.id}, expect=201)
    assert set(data["room"]["member_ids"]) == {alice.id, bob.id}
    await call(client, "POST", members, alice, json={"user_id": bob.id}, expect=200)

    # A member who is not the creator may not add others; an outsider may not add themselves.
    status, err = await call(client, "POST", members, bob, json={"user_id": carol.id})
    assert (status, err["code"]) == (403, "forbidden")
    status, err = await call(client, "POST", members, carol, json={"user_id": carol.id})
    assert (status, err["code"]) == (403, "room_access_denied")
    status, err = await call(client, "POST", members, alice, json={"user_id": str(uuid.uuid4())})
    assert (status, err["code"]) == (409, "conflict")

    # Removing someone else needs the creator; leaving needs only membership.
    status, err = await call(client, "DELETE", f"{members}/{alice.id}", bob)
    assert (status, err["code"]) == (403, "forbidden")
    await call(client, "DELETE", f"{members}/{bob.id}", bob, expect=204)
    status, err = await call(client, "DELETE", f"{members}/{bob.id}", bob)
    assert (status, err["code"]) == (403, "room_access_denied")
    _, data = await call(client, "GET", f"/api/rooms/{room['id']}", alice, expect=200)
    assert data["room"]["member_ids"] == [alice.id]
    status, _ = await send(client, bob, room["id"], "after leaving")
    assert status == 403


async def test_anyone_may_join_an_open_room_but_not_a_direct_one(
    client: Client, alice: Account, bob: Account, carol: Account
) -> None:
    open_room = await create_room(client, alice, "open")
    await call(
        client,
        "POST",
        f"/api/rooms/{open_room['id']}/members",
        carol,
        json={"user_id": carol.id},
        expect=201,
    )
    direct = await create_room(client, alice, "direct", bob)
    members = f"/api/rooms/{direct['id']}/members"
    for who in (alice, carol):
        status, err = await call(client, "POST", members, who, json={"user_id": carol.id})
        assert (status, err["code"]) == (403, "forbidden")
    status, err = await call(client, "DELETE", f"{members}/{bob.id}", alice)
    assert (status, err["code"]) == (403, "forbidden")


async def test_unknown_room_is_404_everywhere(client: Client, alice: Account) -> None:
    room = f"/api/rooms/{uuid.uuid4()}"
    for method, path, body in [
        ("GET", room, None),
        ("GET", f"{room}/messages", None),
        ("POST", f"{room}/messages", {"content": "hi"}),
        ("GET", f"{room}/presence", None),
        ("POST", f"{room}/members", {"user_id": alice.id}),
        ("DELETE", f"{room}/members/{alice.id}", None),
    ]:
        status, err = await call(client, method, path, alice, json=body)
        assert (status, err["code"]) == (404, "not_found"), (method, path)


# ---- access to closed and open rooms ------------------------------------------------


async def test_non_member_is_refused_a_closed_rooms_history_sends_and_presence(
    client: Client, alice: Account, carol: Account
) -> None:
    room = await create_room(client, alice, "closed")
    await send(client, alice, room["id"], "secret")
    base = f"/api/rooms/{room['id']}"
    for method, path, body in [
        ("GET", f"{base}/messages", None),
        ("GET", f"{base}/messages?after_seq=0", None),
        ("POST", f"{base}/messages", {"content": "let me in"}),
        ("GET", f"{base}/presence", None),
        ("GET", base, None),
    ]:
        status, err = await call(client, method, path, carol, json=body)
        assert (status, err["code"]) == (403, "room_access_denied"), (method, path)
    # Nothing was stored by the refused send.
    assert [m["content"] for m in await history(client, alice, room["id"])] == ["secret"]


async def test_open_rooms_are_readable_by_anyone_but_sending_needs_membership(
    client: Client, alice: Account, carol: Account
) -> None:
    room = await create_room(client, alice, "open")
    await send(client, alice, room["id"], "hello world")
    assert [m["content"] for m in await history(client, carol, room["id"])] == ["hello world"]
    await call(client, "GET", f"/api/rooms/{room['id']}/presence", carol, expect=200)
    status, err = await send(client, carol, room["id"], "me too")
    assert (status, err["code"]) == (403, "room_access_denied")


# ---- messages -----------------------------------------------------------------------


async def test_a_send_is_committed_before_its_201(
    client: Client, seeded: Seeded, alice: Account
) -> None:
    room = await create_room(client, alice)
    status, data = await send(client, alice, room["id"], "durable")
    assert status == 201
    message = data["message"]
    assert message["seq"] == 1 and message["room_id"] == room["id"]
    assert message["creator_id"] == alice.id and message["content"] == "durable"
    assert is_uuid(message["id"]) and is_uuid(message["client_message_id"])
    assert message["created_at"].endswith("Z")
    # Another connection to the file, outside the app, sees the row already.
    with sqlite3.connect(seeded.path) as db:
        row = db.execute(
            "SELECT content, seq FROM messages WHERE id = ?", (message["id"],)
        ).fetchone()
    assert row == ("durable", 1)


async def test_a_repeated_client_message_id_returns_the_first_message(
    client: Client, alice: Account, bob: Account
) -> None:
    room = await create_room(client, alice, "closed", bob)
    other = await create_room(client, alice, "closed")
    cmid = str(uuid.uuid4())
    status, first = await send(client, alice, room["id"], "once", cmid)
    assert status == 201
    for _ in range(3):
        status, again = await send(client, alice, room["id"], "once", cmid)
        assert (status, again) == (200, first)
    # The id in upper case is the same UUID.
    status, again = await send(client, alice, room["id"], "once", cmid.upper())
    assert (status, again) == (200, first)

    status, err = await send(client, alice, room["id"], "changed", cmid)
    assert (status, err["code"]) == (409, "conflict")
    status, err = await send(client, alice, other["id"], "once", cmid)
    assert (status, err["code"]) == (409, "conflict")
    # Idempotency is per sender: another user may use the same client id.
    status, theirs = await send(client, bob, room["id"], "once", cmid)
    assert status == 201 and theirs["message"]["id"] != first["message"]["id"]

    assert [m["seq"] for m in await history(client, alice, room["id"])] == [1, 2]


async def test_history_pages_by_seq(client: Client, alice: Account) -> None:
    room = await create_room(client, alice)
    for n in range(1, 13):
        status, _ = await send(client, alice, room["id"], f"m{n}")
        assert status == 201

    def seqs(messages: list[dict[str, Any]]) -> list[int]:
        return [m["seq"] for m in messages]

    rid = room["id"]
    assert seqs(await history(client, alice, rid)) == list(range(1, 13))
    assert seqs(await history(client, alice, rid, limit=3)) == [10, 11, 12]
    assert seqs(await history(client, alice, rid, after_seq=3, limit=4)) == [4, 5, 6, 7]
    assert seqs(await history(client, alice, rid, after_seq=10)) == [11, 12]
    assert seqs(await history(client, alice, rid, after_seq=12)) == []
    assert seqs(await history(client, alice, rid, before_seq=5)) == [1, 2, 3, 4]
    assert seqs(await history(client, alice, rid, before_seq=10, limit=2)) == [8, 9]
    assert seqs(await history(client, alice, rid, after_seq=3, before_seq=7)) == [4, 5, 6]
    assert seqs(await history(client, alice, rid, after_seq=5, before_seq=6)) == []
    # Cursors past either end are not errors.
    assert seqs(await history(client, alice, rid, after_seq=-5, limit=2)) == [1, 2]
    assert seqs(await history(client, alice, rid, after_seq=10**30)) == []
    assert seqs(await history(client, alice, rid, before_seq=10**30, limit=1)) == [12]
    assert seqs(await history(client, alice, rid, limit=10**30)) == list(range(1, 13))
    assert seqs(await history(client, alice, rid, limit="0" * 20 + "2")) == [11, 12]
    assert seqs(await history(client, alice, rid, after_seq="9" * 5000, limit=1)) == []

    # Paging forward by after_seq reassembles the whole room without gaps or repeats.
    collected: list[int] = []
    cursor = 0
    while page := await history(client, alice, rid, after_seq=cursor, limit=5):
        collected += seqs(page)
        cursor = page[-1]["seq"]
    assert collected == list(range(1, 13))


async def test_presence_lists_recently_active_members(
    client: Client, alice: Account, bob: Account
) -> None:
    room = await create_room(client, alice, "closed", bob)
    _, data = await call(client, "GET", f"/api/rooms/{room['id']}/presence", alice, expect=200)
    assert data["online_users"] == []  # nobody has a socket open
    # Alice's own request is activity; the list holds only room members.
    assert alice.id in data["recently_active"]
    assert set(data["recently_active"]) <= {alice.id, bob.id}


async def test_over_the_message_rate_is_429_with_retry_after(
    aiohttp_client: AiohttpClient, seeded: Seeded, alice: Account
) -> None:
    client = await aiohttp_client(create_app(seeded.settings(message_rate=2)))
    room = await create_room(client, alice)
    first_cmid = str(uuid.uuid4())
    assert (await send(client, alice, room["id"], "one", first_cmid))[0] == 201
    assert (await send(client, alice, room["id"], "two"))[0] == 201

    async with client.post(
        f"/api/rooms/{room['id']}/messages", json={"content": "three"}, headers=alice.auth
    ) as response:
        assert response.status == 429
        body = await response.json()
        retry_after = response.headers["Retry-After"]
    assert body["code"] == "rate_limit_exceeded"
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    # A resend is answered even over the limit, and creates nothing.
    status, again = await send(client, alice, room["id"], "one", first_cmid)
    assert status == 200 and again["message"]["seq"] == 1
    assert [m["content"] for m in await history(client, alice, room["id"])] == ["one", "two"]


# ---- bad input ----------------------------------------------------------------------

BAD_REQUESTS: list[tuple[str, str, str, Any, int]] = [
    # (name, method, path, body, status); bytes bodies are sent as they are.
    ("malformed-json", "POST", "/api/rooms/{room}/messages", b'{"content": "hi"', 400),
    ("not-utf8", "POST", "/api/rooms/{room}/messages", b'{"content": "\xff"}', 400),
    ("trailing-garbage", "POST", "/api/rooms/{room}/messages", b'{"content": "a"} x', 400),
    ("empty-body", "POST", "/api/rooms/{room}/messages", b"", 422),
    ("json-array", "POST", "/api/rooms/{room}/messages", ["hi"], 422),
    ("json-string", "POST", "/api/rooms/{room}/messages", "hi", 422),
    ("json-null", "POST", "/api/rooms/{room}/messages", b"null", 422),
    ("missing-content", "POST", "/api/rooms/{room}/messages", {}, 422),
    ("content-number", "POST", "/api/rooms/{room}/messages", {"content": 5}, 422),
    ("content-null", "POST", "/api/rooms/{room}/messages", {"content": None}, 422),
    ("content-list", "POST", "/api/rooms/{room}/messages", {"content": ["a"]}, 422),
    ("unknown-field", "POST", "/api/rooms/{room}/messages", {"content": "a", "x": 1}, 422),
    ("empty-content", "POST", "/api/rooms/{room}/messages", {"content": ""}, 422),
    ("blank-content", "POST", "/api/rooms/{room}/messages", {"content": " \n\t\u3000"}, 422),
    ("nul-content", "POST", "/api/rooms/{room}/messages", {"content": "a\x00b"}, 422),
    ("oversized-content", "POST", "/api/rooms/{room}/messages", {"content": "x" * 10_001}, 422),
    (
        "oversized-astral-content",
        "POST",
        "/api/rooms/{room}/messages",
        {"content": "\U0001f525" * 10_001},
        422,
    ),
    (
        "cmid-not-uuid",
        "POST",
        "/api/rooms/{room}/messages",
        {"content": "a", "client_message_id": "abc"},
        422,
    ),
    (
        "cmid-braced-uuid",
        "POST",
        "/api/rooms/{room}/messages",
        {"content": "a", "client_message_id": "{" + str(uuid.UUID(int=7)) + "}"},
        422,
    ),
    (
        "cmid-number",
        "POST",
        "/api/rooms/{room}/messages",
        {"content": "a", "client_message_id": 7},
        422,
    ),
    ("room-not-uuid", "POST", "/api/rooms/general/messages", {"content": "a"}, 422),
    ("room-bare-hex", "GET", "/api/rooms/" + uuid.UUID(int=7).hex + "/messages", None, 422),
    ("room-not-uuid-get", "GET", "/api/rooms/1", None, 422),
    ("room-not-uuid-presence", "GET", "/api/rooms/x/presence", None, 422),
    ("limit-zero", "GET", "/api/rooms/{room}/messages?limit=0", None, 422),
    ("limit-negative", "GET", "/api/rooms/{room}/messages?limit=-3", None, 422),
    ("limit-text", "GET", "/api/rooms/{room}/messages?limit=ten", None, 422),
    ("limit-float", "GET", "/api/rooms/{room}/messages?limit=2.5", None, 422),
    ("after-seq-underscore", "GET", "/api/rooms/{room}/messages?after_seq=1_0", None, 422),
    ("after-seq-empty", "GET", "/api/rooms/{room}/messages?after_seq=", None, 422),
    ("before-seq-text", "GET", "/api/rooms/{room}/messages?before_seq=x", None, 422),
    ("member-not-uuid", "POST", "/api/rooms/{room}/members", {"user_id": "bob"}, 422),
    ("member-missing", "POST", "/api/rooms/{room}/members", {}, 422),
    ("remove-not-uuid", "DELETE", "/api/rooms/{room}/members/bob", None, 422),
    ("room-name-blank", "POST", "/api/rooms", {"name": "  ", "kind": "open"}, 422),
    ("room-name-long", "POST", "/api/rooms", {"name": "n" * 201, "kind": "open"}, 422),
    ("room-kind-unknown", "POST", "/api/rooms", {"name": "n", "kind": "secret"}, 422),
    ("room-kind-case", "POST", "/api/rooms", {"name": "n", "kind": "Open"}, 422),
    (
        "room-members-not-list",
        "POST",
        "/api/rooms",
        {"name": "n", "kind": "open", "member_ids": "x"},
        422,
    ),
    (
        "room-members-not-uuid",
        "POST",
        "/api/rooms",
        {"name": "n", "kind": "open", "member_ids": ["x"]},
        422,
    ),
    ("rename-number", "PATCH", "/api/rooms/{room}", {"name": 1}, 422),
    ("rename-unknown-field", "PATCH", "/api/rooms/{room}", {"kind": "open"}, 422),
    ("login-missing-password", "POST", "/api/session", {"email_address": "a@b"}, 422),
    ("login-wrong-type", "POST", "/api/session", {"email_address": 1, "password": "p"}, 422),
    ("login-malformed", "POST", "/api/session", b"{", 400),
    (
        "user-bad-email",
        "POST",
        "/api/users",
        {"name": "n", "email_address": "no-at-sign", "password": "long enough"},
        422,
    ),
    (
        "user-short-password",
        "POST",
        "/api/users",
        {"name": "n", "email_address": "a@b.c", "password": "short"},
        422,
    ),
    (
        "user-bad-role",
        "POST",
        "/api/users",
        {"name": "n", "email_address": "a@b.c", "password": "long enough", "role": "root"},
        422,
    ),
]


@pytest.mark.parametrize(
    "method, path, body, status",
    [pytest.param(*case[1:], id=case[0]) for case in BAD_REQUESTS],
)
async def test_bad_input_is_a_4xx_json_error(
    client: Client, admin: Account, method: str, path: str, body: Any, status: int
) -> None:
    # The admin is a member of this room, so only the input can be at fault.
    room = await create_room(client, admin, "closed")
    path = path.replace("{room}", room["id"])
    if isinstance(body, bytes):
        result = await call(
            client, method, path, admin, data=body, headers={"Content-Type": "application/json"}
        )
    else:
        result = await call(client, method, path, admin, json=body)
    assert result[0] == status
    assert result[1]["code"] == "invalid_message_format"
    # A refused message is not stored.
    assert await history(client, admin, room["id"]) == []


async def test_content_of_exactly_the_limit_in_code_points_is_accepted(
    client: Client, alice: Account
) -> None:
    room = await create_room(client, alice)
    # 10,000 code points, 20,000 UTF-16 units and 40,000 UTF-8 bytes: the limit counts points.
    status, data = await send(client, alice, room["id"], "\U0001f525" * 10_000)
    assert status == 201 and len(data["message"]["content"]) == 10_000


async def test_a_body_over_the_size_limit_is_413_json(client: Client, alice: Account) -> None:
    room = await create_room(client, alice)
    status, err = await call(
        client,
        "POST",
        f"/api/rooms/{room['id']}/messages",
        alice,
        json={"content": "x" * (2 * 1024 * 1024)},
    )
    assert (status, err["code"]) == (413, "invalid_message_format")


async def test_unknown_paths_and_methods_are_json_errors(client: Client, alice: Account) -> None:
    status, err = await call(client, "GET", "/api/nothing-here", alice)
    assert (status, err["code"]) == (404, "not_found")
    async with client.put("/api/rooms", headers=alice.auth) as response:
        assert response.status == 405
        assert "POST" in response.headers["Allow"]
        assert (await response.json())["code"] == "not_found"


# ---- operations ---------------------------------------------------------------------


async def test_healthz_reports_the_database_and_metrics_count_stored_messages(
    client: Client, alice: Account
) -> None:
    _, data = await call(client, "GET", "/healthz", expect=200)
    assert data == {"status": "ok", "checks": {"database": True}}

    room = await create_room(client, alice)
    await send(client, alice, room["id"], "counted")
    async with client.get("/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    assert re.search(r'^campfire_messages_stored_total\{via="http"\} 1\.0$', text, re.M), text
    assert "campfire_active_connections 0.0" in text


# ---- the OpenAPI document -----------------------------------------------------------


async def test_the_openapi_document_is_served_and_lists_every_route(client: Client) -> None:
    _, served = await call(client, "GET", "/api/openapi.json", expect=200)
    assert served == openapi_document()
    assert served["openapi"].startswith("3.1")

    documented = {
        (method.upper(), path) for path, item in served["paths"].items() for method in item
    }
    routed = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in {"HEAD", "*"} or path is None:
            continue
        if path.startswith(("/api/", "/healthz", "/metrics")):
            routed.add((route.method, path))
    assert documented == routed


def _accepts(model: type[BaseModel], field: str, value: str, base: dict[str, Any]) -> bool:
    try:
        model.model_validate({**base, field: value})
    except ValueError:
        return False
    return True


# Code points to try: every one where whitespace lives (all below U+3100), and a sample above.
CODE_POINTS = [
    chr(p) for p in [*range(0x3100), *range(0x3100, 0x110000, 251)] if not 0xD800 <= p <= 0xDFFF
]


@pytest.mark.parametrize(
    "model, field, base, samples",
    [
        (
            PostMessageIn,
            "content",
            {},
            [c for p in CODE_POINTS for c in (p, f"a{p}", f"{p}\n", f" {p} ")],
        ),
        (
            CreateRoomIn,
            "name",
            {"kind": "open"},
            [c for p in CODE_POINTS[:0x3100] for c in (p, f"{p}\n")],
        ),
        (
            CreateUserIn,
            "email_address",
            {"name": "n", "password": "long enough"},
            [
                f"{x}{y}"
                for p in CODE_POINTS[:0x3100]
                for x, y in (
                    (f"a{p}b", "@c.d"),
                    ("ab@c", f"{p}d"),
                    (f"{p}ab", "@cd"),
                    ("ab@cd", p),
                    ("ab@cd", f"{p}\n"),
                )
            ],
        ),
        (
            AddMemberIn,
            "user_id",
            {},
            [
                str(uuid.UUID(int=5)),
                str(uuid.uuid4()).upper(),
                uuid.uuid4().hex,
                "{" + str(uuid.uuid4()) + "}",
                "urn:uuid:" + str(uuid.uuid4()),
                str(uuid.uuid4()) + "\n",
                str(uuid.uuid4())[:-1] + "g",
                str(uuid.uuid4())[:-1] + "\n",
                "",
            ],
        ),
    ],
    ids=["content", "room-name", "email", "uuid"],
)
def test_the_published_schema_accepts_exactly_what_the_server_does(
    model: type[BaseModel], field: str, base: dict[str, Any], samples: list[str]
) -> None:
    """Fuzzers read the document's patterns with other regex engines (schemathesis: Rust's,
    through jsonschema-rs; others: Python's or ECMA-262); each must agree with the server."""
    schema = openapi_document()["components"]["schemas"][model.__name__]["properties"][field]
    validator = jsonschema_rs.validator_for(schema)
    for value in samples:
        server = _accepts(model, field, value, base)
        assert validator.is_valid(value) is server, (value, server)
        python_ok = (
            schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
            and re.search(schema["pattern"], value) is not None
        )
        assert python_ok is server, (value, server)


def test_the_api_database_is_a_migrated_wal_file(seeded: Seeded) -> None:
    # The module's database is a real SQLite file in WAL mode with the schema applied.
    assert Path(seeded.path).stat().st_size > 0
    with sqlite3.connect(seeded.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "sessions", "rooms", "memberships", "messages"} <= tables
