"""Rooms and people over HTTP (PROTOCOL.md 9.3): the directory, direct rooms, deletion,
profiles, avatars, admin actions and the sign-in throttle, on the real app and a SQLite file."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path

from PIL import Image

from app.main import create_app
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

seeded = seeded_fixture("people")
client = client_fixture()
admin, alice, bob, carol = account_fixtures(*TEAM)


async def new_person(client: Client, admin: Account, name: str) -> Account:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@campfire.test"
    _, made = await call(
        client,
        "POST",
        "/api/users",
        admin,
        json={"name": name, "email_address": email, "password": PASSWORD},
        expect=201,
    )
    _, session = await call(
        client,
        "POST",
        "/api/session",
        json={"email_address": email, "password": PASSWORD},
        expect=201,
    )
    return Account(id=made["user"]["id"], email=email, token=session["token"], role="member")


# ---- the room directory -------------------------------------------------------------


async def test_open_rooms_lists_every_open_room_with_membership(
    client: Client, alice: Account, bob: Account
) -> None:
    room = await create_room(client, alice, "open")
    closed = await create_room(client, alice, "closed")
    _, data = await call(client, "GET", "/api/rooms/open", bob, expect=200)
    listed = {r["id"]: r for r in data["rooms"]}
    assert closed["id"] not in listed
    entry = listed[room["id"]]
    assert (entry["member"], entry["member_count"], entry["kind"]) == (False, 1, "open")
    await call(client, "POST", f"/api/rooms/{room['id']}/members", bob, json={"user_id": bob.id})
    _, data = await call(client, "GET", "/api/rooms/open", bob, expect=200)
    entry = {r["id"]: r for r in data["rooms"]}[room["id"]]
    assert (entry["member"], entry["member_count"]) == (True, 2)
    await call(client, "GET", "/api/rooms/open", expect=401)


# ---- direct rooms -------------------------------------------------------------------


async def test_a_direct_room_with_the_same_members_is_answered_again(
    client: Client, alice: Account, bob: Account, carol: Account
) -> None:
    first = await create_room(client, alice, "direct", member_ids=[bob.id])
    # The same set from the other side, with the creator listed too: the same room, 200.
    _, again = await call(
        client,
        "POST",
        "/api/rooms",
        bob,
        json={"name": "dm", "kind": "direct", "member_ids": [alice.id, bob.id]},
        expect=200,
    )
    assert again["room"]["id"] == first["id"]
    other = await create_room(client, alice, "direct", member_ids=[bob.id, carol.id])
    assert other["id"] != first["id"]


async def test_concurrent_direct_room_creation_makes_one_room(
    client: Client, alice: Account, carol: Account
) -> None:
    body = {"name": "dm", "kind": "direct", "member_ids": [carol.id]}
    answers = await asyncio.gather(
        *(call(client, "POST", "/api/rooms", alice, json=body) for _ in range(12))
    )
    ids = {data["room"]["id"] for _, data in answers}
    assert len(ids) == 1, answers
    assert sorted(status for status, _ in answers).count(201) == 1


# ---- deleting rooms -----------------------------------------------------------------


async def test_room_deletion_rules_and_messages_gone(
    client: Client, admin: Account, alice: Account, bob: Account, carol: Account
) -> None:
    room = await create_room(client, alice, "open")
    await call(client, "POST", f"/api/rooms/{room['id']}/members", bob, json={"user_id": bob.id})
    await call(
        client,
        "POST",
        f"/api/rooms/{room['id']}/messages",
        alice,
        json={"content": "soon gone"},
        expect=201,
    )
    _, refused = await call(client, "DELETE", f"/api/rooms/{room['id']}", bob, expect=403)
    assert refused["code"] == "forbidden"
    _, refused = await call(client, "DELETE", f"/api/rooms/{room['id']}", carol, expect=403)
    assert refused["code"] == "room_access_denied"
    await call(client, "DELETE", f"/api/rooms/{room['id']}", alice, expect=204)
    _, gone = await call(client, "GET", f"/api/rooms/{room['id']}/messages", alice, expect=404)
    assert gone["code"] == "not_found"
    await call(client, "DELETE", f"/api/rooms/{room['id']}", alice, expect=404)
    _, rooms = await call(client, "GET", "/api/rooms", bob, expect=200)
    assert room["id"] not in {r["id"] for r in rooms["rooms"]}

    # An admin may delete anyone's room; nobody may delete a direct room.
    closed = await create_room(client, bob, "closed")
    await call(client, "DELETE", f"/api/rooms/{closed['id']}", admin, expect=204)
    _, made = await call(
        client,
        "POST",
        "/api/rooms",
        bob,
        json={"name": "dm", "kind": "direct", "member_ids": [carol.id]},
    )
    direct = made["room"]
    _, refused = await call(client, "DELETE", f"/api/rooms/{direct['id']}", bob, expect=403)
    assert refused["code"] == "forbidden"
    await call(client, "DELETE", "/api/rooms/not-a-uuid", alice, expect=422)


# ---- profile ------------------------------------------------------------------------


async def test_profile_changes_and_their_rules(client: Client, admin: Account) -> None:
    dora = await new_person(client, admin, "Dora")
    _, data = await call(client, "PATCH", "/api/me", dora, json={"name": "Dora M"}, expect=200)
    assert data["user"]["name"] == "Dora M"
    _, me = await call(client, "GET", "/api/me", dora, expect=200)
    assert me["user"]["name"] == "Dora M"

    new_email = "dora.m@campfire.test"
    for missing in ({}, {"current_password": None}, {"current_password": ""}):
        _, refused = await call(
            client,
            "PATCH",
            "/api/me",
            dora,
            json={"email_address": new_email, **missing},
            expect=403,
        )
        assert refused["code"] == "forbidden"
    _, refused = await call(
        client,
        "PATCH",
        "/api/me",
        dora,
        json={"email_address": new_email, "current_password": "not it at all"},
        expect=403,
    )
    assert refused["code"] == "forbidden"
    _, taken = await call(
        client,
        "PATCH",
        "/api/me",
        dora,
        json={"email_address": admin.email, "current_password": PASSWORD},
        expect=409,
    )
    assert taken["code"] == "conflict"
    _, data = await call(
        client,
        "PATCH",
        "/api/me",
        dora,
        json={"email_address": new_email, "current_password": PASSWORD},
        expect=200,
    )
    assert data["user"]["email_address"] == new_email
    await call(client, "PATCH", "/api/me", dora, json={"role": "admin"}, expect=422)
    await call(client, "PATCH", "/api/me", json={"name": "x"}, expect=401)


async def test_a_password_change_revokes_the_other_sessions(client: Client, admin: Account) -> None:
    erin = await new_person(client, admin, "Erin")
    _, second = await call(
        client,
        "POST",
        "/api/session",
        json={"email_address": erin.email, "password": PASSWORD},
        expect=201,
    )
    other = {"Authorization": f"Bearer {second['token']}"}
    await call(client, "GET", "/api/me", headers=other, expect=200)
    new_password = "a brand new passphrase"
    await call(
        client,
        "PATCH",
        "/api/me",
        erin,
        json={"password": new_password, "current_password": PASSWORD},
        expect=200,
    )
    await call(client, "GET", "/api/me", erin, expect=200)  # the session that changed it
    _, revoked = await call(client, "GET", "/api/me", headers=other, expect=401)
    assert revoked["code"] == "auth_failed"
    await call(
        client,
        "POST",
        "/api/session",
        json={"email_address": erin.email, "password": PASSWORD},
        expect=401,
    )
    await call(
        client,
        "POST",
        "/api/session",
        json={"email_address": erin.email, "password": new_password},
        expect=201,
    )


# ---- avatars ------------------------------------------------------------------------


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


async def test_avatar_upload_resize_etag_and_removal(client: Client, admin: Account) -> None:
    fay = await new_person(client, admin, "Fay Wray")
    _, me = await call(client, "GET", "/api/me", fay, expect=200)
    initials_url = me["user"]["avatar_url"]
    assert initials_url.startswith(f"/api/users/{fay.id}/avatar")
    async with client.get(initials_url) as response:
        assert response.status == 200
        assert response.content_type == "image/svg+xml"
        svg = await response.text()
        assert ">FW</text>" in svg

    _, data = await call(
        client,
        "PUT",
        "/api/me/avatar",
        fay,
        data=image_bytes("JPEG"),
        headers={"Content-Type": "image/jpeg"},
        expect=200,
    )
    url = data["user"]["avatar_url"]
    assert url != initials_url
    async with client.get(url) as response:
        assert response.status == 200 and response.content_type == "image/webp"
        etag = response.headers["ETag"]
        picture = Image.open(io.BytesIO(await response.read()))
        assert picture.size == (256, 256)
    async with client.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status == 304
    # Everyone sees the new URL (GET /api/users lists it).
    _, users = await call(client, "GET", "/api/users", admin, expect=200)
    assert {u["id"]: u["avatar_url"] for u in users["users"]}[fay.id] == url

    # A multipart form works too.
    form = {"file": io.BytesIO(image_bytes("PNG", (100, 50)))}
    _, data = await call(client, "PUT", "/api/me/avatar", fay, data=form, expect=200)  # type: ignore[arg-type]
    assert data["user"]["avatar_url"] not in (url, initials_url)

    _, data = await call(client, "DELETE", "/api/me/avatar", fay, expect=200)
    assert data["user"]["avatar_url"] == initials_url
    async with client.get(data["user"]["avatar_url"]) as response:
        assert response.content_type == "image/svg+xml"


async def test_avatar_uploads_are_checked(client: Client, alice: Account) -> None:
    _, refused = await call(client, "PUT", "/api/me/avatar", alice, data=b"<svg></svg>", expect=422)
    assert refused["code"] == "invalid_message_format"
    await call(client, "PUT", "/api/me/avatar", alice, data=b"", expect=422)
    big = image_bytes("PNG", (8, 8)) + b"\0" * (5 * 1024 * 1024)
    _, refused = await call(client, "PUT", "/api/me/avatar", alice, data=big, expect=413)
    await call(client, "PUT", "/api/me/avatar", data=image_bytes(), expect=401)
    await call(client, "GET", f"/api/users/{'0' * 8}-0000-4000-8000-{'0' * 12}/avatar", expect=404)


# ---- admin --------------------------------------------------------------------------


async def test_role_changes_are_for_admins(client: Client, admin: Account, alice: Account) -> None:
    gus = await new_person(client, admin, "Gus")
    _, data = await call(
        client, "PATCH", f"/api/users/{gus.id}", admin, json={"role": "admin"}, expect=200
    )
    assert data["user"]["role"] == "admin"
    _, me = await call(client, "GET", "/api/me", gus, expect=200)
    assert me["user"]["role"] == "admin"
    await call(client, "PATCH", f"/api/users/{gus.id}", admin, json={"role": "member"}, expect=200)
    _, refused = await call(
        client, "PATCH", f"/api/users/{gus.id}", alice, json={"role": "admin"}, expect=403
    )
    assert refused["code"] == "forbidden"
    await call(
        client, "PATCH", f"/api/users/{admin.id}", admin, json={"role": "member"}, expect=403
    )
    await call(client, "PATCH", f"/api/users/{gus.id}", admin, json={"role": "bot"}, expect=422)
    missing = "00000000-0000-4000-8000-000000000000"
    _, gone = await call(
        client, "PATCH", f"/api/users/{missing}", admin, json={"role": "admin"}, expect=404
    )
    assert gone["code"] == "not_found"


async def test_deactivation_signs_out_refuses_sign_in_and_keeps_messages(
    client: Client, admin: Account, alice: Account
) -> None:
    hal = await new_person(client, admin, "Hal")
    room = await create_room(client, alice, "open")
    await call(client, "POST", f"/api/rooms/{room['id']}/members", hal, json={"user_id": hal.id})
    await call(
        client,
        "POST",
        f"/api/rooms/{room['id']}/messages",
        hal,
        json={"content": "still here after I go"},
        expect=201,
    )
    _, refused = await call(client, "DELETE", f"/api/users/{hal.id}", alice, expect=403)
    assert refused["code"] == "forbidden"
    await call(client, "DELETE", f"/api/users/{admin.id}", admin, expect=403)
    await call(client, "DELETE", f"/api/users/{hal.id}", admin, expect=204)

    _, revoked = await call(client, "GET", "/api/me", hal, expect=401)
    assert revoked["code"] == "auth_failed"
    _, refused = await call(
        client,
        "POST",
        "/api/session",
        json={"email_address": hal.email, "password": PASSWORD},
        expect=401,
    )
    assert refused["code"] == "auth_failed"
    _, history = await call(client, "GET", f"/api/rooms/{room['id']}/messages", alice)
    assert [m["content"] for m in history["messages"]] == ["still here after I go"]
    _, users = await call(client, "GET", "/api/users", admin, expect=200)
    assert hal.id not in {u["id"] for u in users["users"]}
    await call(client, "DELETE", f"/api/users/{hal.id}", admin, expect=404)


# ---- the sign-in throttle -----------------------------------------------------------


async def test_sign_in_is_throttled_per_ip(
    aiohttp_client: AiohttpClient, seeded: Seeded, alice: Account
) -> None:
    client = await aiohttp_client(create_app(seeded.settings(login_rate=3)))
    attempts = [
        {"email_address": alice.email, "password": "wrong password"},
        {"email_address": alice.email, "password": PASSWORD},
        {"email_address": "nobody@campfire.test", "password": PASSWORD},
    ]
    statuses = [(await call(client, "POST", "/api/session", json=a))[0] for a in attempts]
    assert statuses == [401, 201, 401]
    async with client.post(
        "/api/session", json={"email_address": alice.email, "password": PASSWORD}
    ) as response:
        assert response.status == 429
        assert (await response.json())["code"] == "rate_limit_exceeded"
        assert 1 <= int(response.headers["Retry-After"]) <= 180


def test_sign_in_throttle_is_off_at_zero(seeded: Seeded, tmp_path: Path) -> None:
    assert seeded.settings(login_rate=0).login_rate == 0
    assert seeded.settings().login_rate == 0  # the tests' own default
