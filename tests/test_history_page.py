"""The history page (`GET /api/rooms/{id}/messages`) on SQLite and PostgreSQL.

The page is read in one `Database.read` hand-off and written straight from the rows
(`message_rows.load_wire`; the replay too, `hydrate_wire`), without a model per message. Here
it must equal, key for key, what the model path (`message_rows.load` + `wire`, which search and
`after_rev` use) makes of the same rows: a room with boosts, files, edits, deletions and
mentions. Access is checked in the same hand-off: the same answers as
`RoomService.require_readable`.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import pytest

from app.config import Settings
from app.db import Database, in_list
from app.http.openapi import openapi_document
from app.main import create_app
from app.schemas import wire
from app.services import message_rows
from tests.files_support import png
from tests.http_support import (
    Account,
    Client,
    Seeded,
    call,
    new_room_id,
    seeded_fixture,
)

USERS = {"alice": "member", "bob": "member", "carol": "member"}


seeded = seeded_fixture("history", USERS, postgres=True)


@pytest.fixture
async def client(aiohttp_client: Any, seeded: Seeded, tmp_path: Path) -> Client:
    settings = seeded.settings(storage_dir=str(tmp_path / "storage"), thumbnail_wait_seconds=120)
    return await aiohttp_client(create_app(settings))


async def send(client: Client, who: Account, room_id: str, **body: Any) -> dict[str, Any]:
    path = f"/api/rooms/{room_id}/messages"
    _, data = await call(client, "POST", path, who, json=body, expect=201)
    return data["message"]


async def upload(client: Client, who: Account, room_id: str, name: str) -> dict[str, Any]:
    body = aiohttp.FormData(quote_fields=False)
    body.add_field("file", png(40, 30), filename=name, content_type="image/png")
    async with client.post(
        f"/api/rooms/{room_id}/attachments", data=body, headers=who.auth
    ) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["attachment"]


async def page(client: Client, who: Account, room_id: str, **query: Any) -> list[Any]:
    path = f"/api/rooms/{room_id}/messages"
    _, data = await call(client, "GET", path, who, params=query, expect=200)
    return data["messages"]


async def model_path(
    url: str, room_id: str | None, ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """The room's messages by seq (or those `ids`, as sent) through `MessageOut` and `wire`."""
    where, params = ("room_id = :room", {"room": room_id}) if ids is None else in_list("m", ids)
    if ids is not None:
        where = f"id IN {where}"
    order = "seq" if ids is None else "position"  # position: insertion order, across rooms
    sql = f"SELECT {message_rows.COLUMNS_SQL} FROM messages WHERE {where} ORDER BY {order}"
    db = Database(Settings(DATABASE_URL=url).database_url)
    try:
        found = await db.read(lambda q: message_rows.load(q, sql, params))
    finally:
        await db.close()
    return [wire(m) for m in found]


def unsigned(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attachment URLs without `expires` and `signature`, which depend on the second."""

    def strip(url: str | None) -> str | None:
        return None if url is None else urllib.parse.urlsplit(url).path

    return [
        {
            **m,
            "attachments": [
                {**a, "url": strip(a["url"]), "thumbnail_url": strip(a["thumbnail_url"])}
                for a in m["attachments"]
            ],
        }
        for m in messages
    ]


async def test_a_hydrated_page_equals_the_model_path(client: Client, seeded: Seeded) -> None:
    alice, bob = seeded.accounts["alice"], seeded.accounts["bob"]
    rid = await new_room_id(client, alice, bob)
    plain = await send(client, alice, rid, content="plain")
    await send(client, bob, rid, content="hi @alice", mention_ids=[alice.id])
    files = [await upload(client, alice, rid, f"f{i}.png") for i in range(2)]
    with_files = await send(
        client, alice, rid, content="two files", attachment_ids=[a["id"] for a in files]
    )
    edited = await send(client, alice, rid, content="tpyo")
    boosted = await send(client, bob, rid, content="boost me")
    doomed = await send(client, alice, rid, content="gone soon")
    messages = f"/api/rooms/{rid}/messages"
    await call(
        client, "PATCH", f"{messages}/{edited['id']}", alice, json={"content": "typo"}, expect=200
    )
    for who, text in ((alice, "👍"), (bob, "nice"), (alice, "🎉")):
        path = f"{messages}/{boosted['id']}/boosts"
        await call(client, "POST", path, who, json={"content": text}, expect=201)
    path = f"{messages}/{doomed['id']}/boosts"
    await call(client, "POST", path, bob, json={"content": "👍"}, expect=201)
    await call(client, "DELETE", f"{messages}/{doomed['id']}", alice, expect=204)

    got = await page(client, bob, rid)
    expected = await model_path(seeded.url, rid)
    assert len(got) == 6
    assert unsigned(got) == unsigned(expected)
    # Key order too: the same JSON, field for field.
    assert [list(m) for m in got] == [list(m) for m in expected]
    # And the OpenAPI document's answer schema holds.
    document = openapi_document()
    schema = {"$ref": "#/components/schemas/MessageList", "components": document["components"]}
    jsonschema_rs.validator_for(schema).validate({"messages": got})
    by_id = {m["id"]: m for m in got}
    assert [b["content"] for b in by_id[boosted["id"]]["boosts"]] == ["👍", "nice", "🎉"]
    assert by_id[doomed["id"]]["deleted"] and by_id[doomed["id"]]["boosts"] == []
    assert by_id[edited["id"]]["edited_at"] is not None
    assert [a["id"] for a in by_id[with_files["id"]]["attachments"]] == [a["id"] for a in files]
    assert by_id[plain["id"]] == {**plain, "rev": 0}
    # The page's signed URLs work.
    async with client.get(by_id[with_files["id"]]["attachments"][0]["url"]) as response:
        assert response.status == 200
    # The changes feed (the model path over HTTP) agrees on every changed message.
    _, changed = await call(client, "GET", messages, bob, params={"after_rev": 0}, expect=200)
    assert unsigned(sorted(changed["messages"], key=lambda m: m["seq"])) == unsigned(
        [m for m in got if m["rev"]]
    )
    # Files of messages in two rooms (the hydrator's IN list, not a page's seq range).
    other = await new_room_id(client, alice)
    elsewhere = await upload(client, alice, other, "g.png")
    far = await send(client, alice, other, content="file", attachment_ids=[elsewhere["id"]])
    both = await model_path(seeded.url, None, [with_files["id"], far["id"]])
    assert [[a["id"] for a in m["attachments"]] for m in both] == [
        [a["id"] for a in files],
        [elsewhere["id"]],
    ]
    # Cursors and limits page the same rows.
    seqs = [m["seq"] for m in got]
    assert [m["seq"] for m in await page(client, bob, rid, limit=3)] == seqs[-3:]
    after = await page(client, alice, rid, after_seq=seqs[1], limit=2)
    assert unsigned(after) == unsigned(got[2:4])
    before = await page(client, alice, rid, before_seq=seqs[3])
    assert unsigned(before) == unsigned(got[:3])
    between = await page(client, alice, rid, after_seq=seqs[0], before_seq=seqs[4])
    assert unsigned(between) == unsigned(got[1:4])


async def test_access_answers_are_those_of_require_readable(client: Client, seeded: Seeded) -> None:
    alice, bob, carol = (seeded.accounts[n] for n in ("alice", "bob", "carol"))
    closed = await new_room_id(client, alice, bob)
    await send(client, alice, closed, content="members only")
    path = f"/api/rooms/{closed}/messages"
    _, data = await call(client, "GET", path, carol, expect=403)
    assert data["code"] == "room_access_denied"
    unknown = "00000000-0000-4000-8000-000000000000"
    _, data = await call(client, "GET", f"/api/rooms/{unknown}/messages", carol, expect=404)
    assert data["code"] == "not_found"
    # An open room is readable by anyone signed in, member or not.
    open_room = await new_room_id(client, alice, kind="open")
    await send(client, alice, open_room, content="for all")
    assert [m["content"] for m in await page(client, carol, open_room)] == ["for all"]
    # Without a token: the same 401 as before the room is even looked at.
    _, data = await call(client, "GET", path, expect=401)
    assert data["code"] == "auth_required"
    # A bad limit is refused before access is checked, as before.
    _, data = await call(client, "GET", path, carol, params={"limit": 0}, expect=422)
    assert data["code"] == "invalid_message_format"
    # An empty room the reader may see: an empty page.
    empty = await new_room_id(client, carol)
    assert await page(client, carol, empty) == []


def test_wire_rows_equal_the_models_for_every_timestamp_form() -> None:
    # SQLite text as SQLAlchemy writes it (with and without microseconds), other ISO text,
    # and PostgreSQL's datetimes (aware in another zone, or naive UTC).
    moment = datetime(2026, 11, 30, 18, 35, 2, 120000, tzinfo=UTC)
    whole = moment.replace(microsecond=0)
    forms: list[Any] = [
        "2026-11-30 18:35:02.120000",
        "2026-11-30 18:35:02.000000",
        "2026-11-30 18:35:02",
        "2026-11-30T18:35:02.120000+00:00",
        moment,
        whole,
        moment.astimezone(timezone(timedelta(hours=5, minutes=30))),
        moment.replace(tzinfo=None),
        None,
    ]
    for form in forms:
        for mentions in (None, "[]", '["a", "b"]'):
            row = ("i", "r", "c", "text", "k", form or moment, 7, form, 1, 3, mentions)
            expected = wire(message_rows.from_row(row))
            got = message_rows.wire_row(row)
            assert list(got.items()) == list(expected.items()), form
