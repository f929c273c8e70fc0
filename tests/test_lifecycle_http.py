"""Message lifecycle over HTTP (PROTOCOL.md 9.1): edit, delete, boosts, mentions, rev, after_rev.

The real app on a real SQLite file, served on 127.0.0.1 (see tests/http_support.py).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.http_support import (
    Account,
    Client,
    Seeded,
    call,
    client_fixture,
    new_room_id,
    seeded_fixture,
)

seeded = seeded_fixture("lifecycle-http")
client = client_fixture()


@pytest.fixture
def who(seeded: Seeded) -> dict[str, Account]:
    return seeded.accounts


async def send(
    client: Client, author: Account, room_id: str, content: str = "hello", **extra: Any
) -> dict[str, Any]:
    body = {"content": content, **extra}
    _, data = await call(
        client, "POST", f"/api/rooms/{room_id}/messages", author, json=body, expect=201
    )
    return data["message"]


def path(room_id: str, message_id: str, tail: str = "") -> str:
    return f"/api/rooms/{room_id}/messages/{message_id}{tail}"


async def history(client: Client, who: Account, room_id: str, **query: Any) -> list[Any]:
    _, data = await call(
        client, "GET", f"/api/rooms/{room_id}/messages", who, params=query, expect=200
    )
    return data["messages"]


async def test_a_new_message_has_the_whole_lifecycle_shape(client: Client, who: Any) -> None:
    alice, bob = who["alice"], who["bob"]
    room_id = await new_room_id(client, alice, bob)
    sent = await send(client, alice, room_id, "hi @bob", mention_ids=[bob.id, bob.id])
    assert sent["edited_at"] is None and sent["deleted"] is False
    assert sent["boosts"] == [] and sent["attachments"] == [] and sent["rev"] == 0
    assert sent["mention_ids"] == [bob.id]  # a repeated mention names bob once
    [fetched] = await history(client, bob, room_id)
    assert fetched == sent
    plain = await send(client, alice, room_id, "no mentions")
    assert plain["mention_ids"] == []


async def test_mentions_must_be_members_and_at_most_fifty(client: Client, who: Any) -> None:
    alice, bob, carol = who["alice"], who["bob"], who["carol"]
    room_id = await new_room_id(client, alice, bob)
    url = f"/api/rooms/{room_id}/messages"
    for mentions in ([carol.id], [str(uuid.uuid4())], [bob.id] * 51, ["bob"], "bob"):
        status, data = await call(
            client, "POST", url, alice, json={"content": "x", "mention_ids": mentions}
        )
        assert (status, data["code"]) == (422, "invalid_message_format"), mentions
    # Nothing refused was stored, and a mention of oneself is fine.
    assert await history(client, alice, room_id) == []
    assert (await send(client, alice, room_id, "me", mention_ids=[alice.id]))["seq"] == 1


async def test_edit_is_for_the_creator_only(client: Client, who: Any) -> None:
    alice, bob, carol, admin = who["alice"], who["bob"], who["carol"], who["admin"]
    room_id = await new_room_id(client, alice, bob, admin)
    message = await send(client, alice, room_id, "typo", mention_ids=[bob.id])
    url = path(room_id, message["id"])
    status, data = await call(client, "PATCH", url, alice, json={"content": "fixed"})
    assert status == 200
    edited = data["message"]
    assert edited["content"] == "fixed" and edited["edited_at"] is not None
    assert edited["rev"] == 1 and edited["seq"] == message["seq"]
    assert edited["mention_ids"] == [bob.id]  # kept when not given again
    _, data = await call(client, "PATCH", url, alice, json={"content": "again", "mention_ids": []})
    assert data["message"]["mention_ids"] == [] and data["message"]["rev"] == 2
    for other, code in ((bob, "forbidden"), (admin, "forbidden"), (carol, "room_access_denied")):
        status, data = await call(client, "PATCH", url, other, json={"content": "mine now"})
        assert (status, data["code"]) == (403, code)
    # Content rules as for sending; mentions must be members.
    for bad in (
        {"content": "  "},
        {"content": "x" * 10_001},
        {},
        {"content": "x", "mention_ids": [carol.id]},
    ):
        status, data = await call(client, "PATCH", url, alice, json=bad)
        assert (status, data["code"]) == (422, "invalid_message_format"), bad
    [current] = await history(client, bob, room_id)
    assert current["content"] == "again" and current["rev"] == 2


async def test_unknown_messages_and_rooms_are_not_found(client: Client, who: Any) -> None:
    alice, bob = who["alice"], who["bob"]
    room_id = await new_room_id(client, alice, bob)
    other_room = await new_room_id(client, alice)
    message = await send(client, alice, room_id)
    cases = [
        ("PATCH", path(room_id, str(uuid.uuid4())), {"content": "x"}),
        ("PATCH", path(other_room, message["id"]), {"content": "x"}),  # not in that room
        ("PATCH", path(str(uuid.uuid4()), message["id"]), {"content": "x"}),
        ("DELETE", path(room_id, str(uuid.uuid4())), None),
        ("POST", path(room_id, str(uuid.uuid4()), "/boosts"), {"content": "👍"}),
        ("DELETE", path(room_id, message["id"], f"/boosts/{uuid.uuid4()}"), None),
    ]
    for method, url, body in cases:
        status, data = await call(client, method, url, alice, json=body)
        assert (status, data["code"]) == (404, "not_found"), (method, url)
    status, data = await call(client, "PATCH", path(room_id, "nope"), alice, json={"content": "x"})
    assert (status, data["code"]) == (422, "invalid_message_format")


async def test_delete_leaves_a_tombstone_and_seqs_stay_gapless(client: Client, who: Any) -> None:
    alice, bob, admin = who["alice"], who["bob"], who["admin"]
    room_id = await new_room_id(client, alice, bob, admin)
    first, second, third = [await send(client, alice, room_id, f"m{i}") for i in range(3)]
    await call(
        client,
        "POST",
        path(room_id, second["id"], "/boosts"),
        bob,
        json={"content": "🎉"},
        expect=201,
    )
    status, data = await call(client, "DELETE", path(room_id, second["id"]), bob)
    assert (status, data["code"]) == (403, "forbidden")
    await call(client, "DELETE", path(room_id, second["id"]), alice, expect=204)
    # An admin may delete anyone's message.
    await call(client, "DELETE", path(room_id, third["id"]), admin, expect=204)
    messages = await history(client, bob, room_id)
    assert [m["seq"] for m in messages] == [1, 2, 3]
    tombstone = messages[1]
    assert tombstone["id"] == second["id"] and tombstone["deleted"] is True
    assert tombstone["content"] == "" and tombstone["boosts"] == []
    assert tombstone["attachments"] == [] and tombstone["mention_ids"] == []
    assert [m["rev"] for m in messages] == [0, 2, 3]  # boost 1, delete 2, delete 3
    # A tombstone can be neither edited nor boosted; deleting it again changes nothing.
    status, data = await call(
        client, "PATCH", path(room_id, second["id"]), alice, json={"content": "x"}
    )
    assert (status, data["code"]) == (404, "not_found")
    status, data = await call(
        client, "POST", path(room_id, second["id"], "/boosts"), bob, json={"content": "👍"}
    )
    assert (status, data["code"]) == (404, "not_found")
    await call(client, "DELETE", path(room_id, second["id"]), alice, expect=204)
    assert [m["rev"] for m in await history(client, bob, room_id)] == [0, 2, 3]
    # The next message takes the next seq: the tombstone kept its place.
    assert (await send(client, bob, room_id, "after"))["seq"] == 4
    assert first["seq"] == 1


async def test_boosts_add_repeat_and_remove(client: Client, who: Any) -> None:
    alice, bob, carol, admin = who["alice"], who["bob"], who["carol"], who["admin"]
    room_id = await new_room_id(client, alice, bob, carol, admin)
    message = await send(client, alice, room_id)
    boosts = path(room_id, message["id"], "/boosts")
    status, data = await call(client, "POST", boosts, bob, json={"content": "👍"})
    assert status == 201
    boost = data["boost"]
    assert boost["user_id"] == bob.id and boost["content"] == "👍"
    assert boost["message_id"] == message["id"]
    assert data["message"]["boosts"] == [boost] and data["message"]["rev"] == 1
    # The same boost again: 200, nothing new (no new rev).
    status, data = await call(client, "POST", boosts, bob, json={"content": "👍"})
    assert status == 200 and data["boost"] == boost and data["message"]["rev"] == 1
    _, data = await call(client, "POST", boosts, carol, json={"content": "👍"}, expect=201)
    carols = data["boost"]
    _, data = await call(client, "POST", boosts, bob, json={"content": "nice one"}, expect=201)
    bobs_text = data["boost"]
    message_now = data["message"]
    assert [b["id"] for b in message_now["boosts"]] == [boost["id"], carols["id"], bobs_text["id"]]
    assert message_now["rev"] == 3
    for bad in ("", "   ", "x" * 17, 5):
        status, data = await call(client, "POST", boosts, bob, json={"content": bad})
        assert (status, data["code"]) == (422, "invalid_message_format"), bad
    assert (await call(client, "POST", boosts, bob, json={"content": "x" * 16}))[0] == 201
    # Removing: the booster or an admin; anyone else is forbidden.
    status, data = await call(client, "DELETE", f"{boosts}/{boost['id']}", carol)
    assert (status, data["code"]) == (403, "forbidden")
    await call(client, "DELETE", f"{boosts}/{boost['id']}", bob, expect=204)
    await call(client, "DELETE", f"{boosts}/{carols['id']}", admin, expect=204)
    status, data = await call(client, "DELETE", f"{boosts}/{carols['id']}", admin)
    assert (status, data["code"]) == (404, "not_found")
    [current] = await history(client, alice, room_id)
    assert [b["content"] for b in current["boosts"]] == ["nice one", "x" * 16]
    assert current["rev"] == 6


async def test_non_members_may_not_change_anything(client: Client, who: Any) -> None:
    alice, carol = who["alice"], who["carol"]
    _, data = await call(
        client, "POST", "/api/rooms", alice, json={"name": "open", "kind": "open"}, expect=201
    )
    room_id = data["room"]["id"]
    message = await send(client, alice, room_id)
    _, data = await call(
        client,
        "POST",
        path(room_id, message["id"], "/boosts"),
        alice,
        json={"content": "🔥"},
        expect=201,
    )
    for method, url, body in (
        ("PATCH", path(room_id, message["id"]), {"content": "x"}),
        ("DELETE", path(room_id, message["id"]), None),
        ("POST", path(room_id, message["id"], "/boosts"), {"content": "👍"}),
        ("DELETE", path(room_id, message["id"], f"/boosts/{data['boost']['id']}"), None),
    ):
        status, answer = await call(client, method, url, carol, json=body)
        assert (status, answer["code"]) == (403, "room_access_denied"), (method, url)


async def test_after_rev_pages_changes_in_rev_order(client: Client, who: Any) -> None:
    alice, bob = who["alice"], who["bob"]
    room_id = await new_room_id(client, alice, bob)
    a, b, c = [await send(client, alice, room_id, f"m{i}") for i in range(3)]
    await call(client, "PATCH", path(room_id, c["id"]), alice, json={"content": "c1"}, expect=200)
    await call(
        client, "POST", path(room_id, a["id"], "/boosts"), bob, json={"content": "👍"}, expect=201
    )
    await call(client, "PATCH", path(room_id, c["id"]), alice, json={"content": "c2"}, expect=200)
    await call(client, "DELETE", path(room_id, b["id"]), alice, expect=204)
    changed = await history(client, bob, room_id, after_rev=0)
    # One entry per message, in its current state, ascending by its (latest) rev.
    assert [(m["id"], m["rev"]) for m in changed] == [(a["id"], 2), (c["id"], 3), (b["id"], 4)]
    assert changed[1]["content"] == "c2" and changed[2]["deleted"] is True
    assert [m["rev"] for m in await history(client, bob, room_id, after_rev=2)] == [3, 4]
    assert [m["rev"] for m in await history(client, bob, room_id, after_rev=0, limit=1)] == [2]
    assert await history(client, bob, room_id, after_rev=4) == []
    status, data = await call(
        client, "GET", f"/api/rooms/{room_id}/messages", who["carol"], params={"after_rev": 0}
    )
    assert (status, data["code"]) == (403, "room_access_denied")


async def test_a_resend_after_an_edit_or_delete_is_still_a_resend(client: Client, who: Any) -> None:
    alice = who["alice"]
    room_id = await new_room_id(client, alice)
    cmid = str(uuid.uuid4())
    first = await send(client, alice, room_id, "original", client_message_id=cmid)
    await call(
        client, "PATCH", path(room_id, first["id"]), alice, json={"content": "new"}, expect=200
    )
    url = f"/api/rooms/{room_id}/messages"
    body = {"content": "original", "client_message_id": cmid}
    _, data = await call(client, "POST", url, alice, json=body, expect=200)
    assert data["message"]["id"] == first["id"] and data["message"]["content"] == "new"
    await call(client, "DELETE", path(room_id, first["id"]), alice, expect=204)
    _, data = await call(client, "POST", url, alice, json=body, expect=200)
    assert data["message"]["deleted"] is True
    assert len(await history(client, alice, room_id)) == 1


async def test_concurrent_changes_take_gapless_revs(client: Client, who: Any) -> None:
    """100 edits and boosts on one message at once: revs 1..100, each exactly once."""
    alice, bob = who["alice"], who["bob"]
    room_id = await new_room_id(client, alice, bob)
    message = await send(client, alice, room_id)
    url = path(room_id, message["id"])

    async def change(i: int) -> int:
        if i % 2:
            _, data = await call(client, "PATCH", url, alice, json={"content": f"v{i}"}, expect=200)
        else:
            body = {"content": f"b{i}"}
            _, data = await call(client, "POST", url + "/boosts", bob, json=body, expect=201)
        return data["message"]["rev"]

    revs = await asyncio.gather(*(change(i) for i in range(100)))
    assert sorted(revs) == list(range(1, 101))
    [current] = await history(client, alice, room_id)
    assert current["rev"] == 100 and len(current["boosts"]) == 50
    changed = await history(client, alice, room_id, after_rev=99)
    assert [m["id"] for m in changed] == [message["id"]]
