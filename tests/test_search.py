"""Full-text search (PROTOCOL.md 9.5) over HTTP, on SQLite (FTS5) and PostgreSQL (tsvector).

The real app on a migrated database; messages are sent through the API, so they reach the
index through the group-committed write path.
"""

from __future__ import annotations

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

USERS = {"alice": "member", "bob": "member", "carol": "member"}


seeded = seeded_fixture("search", USERS, postgres=True)


client = client_fixture()


async def send(client: Client, who: Account, room_id: str, content: str) -> dict[str, Any]:
    path = f"/api/rooms/{room_id}/messages"
    _, data = await call(client, "POST", path, who, json={"content": content}, expect=201)
    return data["message"]


async def search(client: Client, who: Account, expect: int = 200, **query: Any) -> Any:
    _, data = await call(client, "GET", "/api/search", who, params=query, expect=expect)
    return data


async def found(client: Client, who: Account, q: str, **query: Any) -> list[str]:
    """The contents found for `q`, newest first."""
    data = await search(client, who, q=q, **query)
    return [m["content"] for m in data["messages"]]


def tag() -> str:
    """A word no other test uses, so that tests sharing a database do not see each other."""
    return "t" + uuid.uuid4().hex[:10]


async def test_words_are_anded_and_results_are_newest_first_with_their_room(
    client: Client, seeded: Seeded
) -> None:
    alice = seeded.accounts["alice"]
    rid = await new_room_id(client, alice)
    t = tag()
    await send(client, alice, rid, f"{t} alpha beta")
    await send(client, alice, rid, f"{t} alpha gamma")
    newest = await send(client, alice, rid, f"{t} Beta, ALPHA!")
    assert await found(client, alice, f"{t} alpha beta") == [f"{t} Beta, ALPHA!", f"{t} alpha beta"]
    assert await found(client, alice, f"{t} gamma") == [f"{t} alpha gamma"]
    assert await found(client, alice, f"{t} delta") == []
    data = await search(client, alice, q=f"{t} alpha")
    first = data["messages"][0]
    assert first["id"] == newest["id"] and first["seq"] == newest["seq"]
    assert first["room"]["id"] == rid and first["room"]["name"] == "closed room"
    assert first["room"]["kind"] == "closed"


async def test_quotes_make_phrases_a_star_makes_a_prefix_and_punctuation_splits_words(
    client: Client, seeded: Seeded
) -> None:
    alice = seeded.accounts["alice"]
    rid = await new_room_id(client, alice)
    t = tag()
    await send(client, alice, rid, f"{t} the quick brown fox")
    await send(client, alice, rid, f"{t} brown and quick")
    await send(client, alice, rid, f"{t} deployment finished on example.com")
    await send(client, alice, rid, f"{t} naïve 日本語 text")
    assert await found(client, alice, f'{t} "quick brown"') == [f"{t} the quick brown fox"]
    assert await found(client, alice, f"{t} quick brown") == [
        f"{t} brown and quick",
        f"{t} the quick brown fox",
    ]
    assert await found(client, alice, f"{t} deploy*") == [f"{t} deployment finished on example.com"]
    assert await found(client, alice, f"{t} deploy") == []
    assert await found(client, alice, f'{t} "deployment fin"*') == [
        f"{t} deployment finished on example.com"
    ]
    assert await found(client, alice, f"{t} example") == [f"{t} deployment finished on example.com"]
    assert await found(client, alice, f"{t} example.com") == [
        f"{t} deployment finished on example.com"
    ]
    assert await found(client, alice, f"{t} naïve") == [f"{t} naïve 日本語 text"]
    assert await found(client, alice, f"{t} 日本語") == [f"{t} naïve 日本語 text"]
    # An unclosed quote runs to the end of the query.
    assert await found(client, alice, f'{t} "the quick') == [f"{t} the quick brown fox"]


async def test_accents_are_ignored_both_ways(client: Client, seeded: Seeded) -> None:
    alice = seeded.accounts["alice"]
    rid = await new_room_id(client, alice)
    t = tag()
    await send(client, alice, rid, f"{t} café crème brûlée")
    await send(client, alice, rid, f"{t} Cafe au lait")
    await send(client, alice, rid, f"{t} NAÏVE résumé")
    both = [f"{t} Cafe au lait", f"{t} café crème brûlée"]
    for q in ("cafe", "café", "CAFÉ", "cafè", "caf*", "café*"):
        assert await found(client, alice, f"{t} {q}") == both, q
    assert await found(client, alice, f'{t} "creme brulee"') == [f"{t} café crème brûlée"]
    assert await found(client, alice, f"{t} naive resume") == [f"{t} NAÏVE résumé"]
    assert await found(client, alice, f"{t} résumé") == [f"{t} NAÏVE résumé"]
    # An edit is indexed without its accents at once.
    [cafe] = (await search(client, alice, q=f"{t} brulee"))["messages"]
    path = f"/api/rooms/{rid}/messages/{cafe['id']}"
    await call(client, "PATCH", path, alice, json={"content": f"{t} thé glacé"}, expect=200)
    assert await found(client, alice, f"{t} the glace") == [f"{t} thé glacé"]
    assert await found(client, alice, f"{t} cafe") == [f"{t} Cafe au lait"]


ODD_QUERIES = [
    '"',
    '""',
    '"""',
    "*",
    '"*"',
    "**",
    "NEAR",
    "NEAR(a b)",
    "a NEAR b",
    "a OR b",
    "NOT a",
    "a AND",
    "-a",
    "a:b",
    "content:a",
    "^a",
    "(a",
    "a)",
    "{a b}",
    "a & b | !c",
    "'a'",
    "a <-> b",
    "a:*",
    "\\",
    "%",
    "🔥",
    "ﷺ",
    "a\u0301",
    "d\u02bcArc",  # PostgreSQL's unaccent turns U+02BC into an apostrophe
    "\u00bd \u0149 \u00bc",  # ... and these into "1/2", "'n", "1/4"
    "\x00",
    "a\x00b",
    "\u200b",
    "x" * 500,
    "a " * 100,
]


@pytest.mark.parametrize("q", ODD_QUERIES, ids=range(len(ODD_QUERIES)))
async def test_query_syntax_characters_alone_are_answered_not_errors(
    client: Client, seeded: Seeded, q: str
) -> None:
    alice = seeded.accounts["alice"]
    status, data = await call(client, "GET", "/api/search", alice, params={"q": q})
    assert status == 200, (status, data)
    assert isinstance(data["messages"], list)


async def test_operator_words_and_characters_are_searched_as_text(
    client: Client, seeded: Seeded
) -> None:
    alice = seeded.accounts["alice"]
    rid = await new_room_id(client, alice)
    t = tag()
    await send(client, alice, rid, f"{t} near the OR gate")
    assert await found(client, alice, f"{t} NEAR") == [f"{t} near the OR gate"]
    assert await found(client, alice, f"{t} OR") == [f"{t} near the OR gate"]
    # Punctuation inside a word joins its parts into a phrase.
    assert await found(client, alice, f"{t} NEAR(the") == [f"{t} near the OR gate"]
    assert await found(client, alice, f"{t} NEAR(gate)") == []
    assert await found(client, alice, f"{t} -gate") == [f"{t} near the OR gate"]


@pytest.mark.parametrize(
    "query",
    [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 501}, {"q": "a", "limit": "0"},
     {"q": "a", "limit": "x"}, {"q": "a", "room_id": "nope"}, {"q": "a", "before_id": "1"}],
    ids=["missing", "empty", "blank", "long", "limit-0", "limit-text", "room-id", "before-id"],
)  # fmt: skip
async def test_bad_queries_are_422(client: Client, seeded: Seeded, query: dict[str, str]) -> None:
    data = await search(client, seeded.accounts["alice"], expect=422, **query)
    assert data["code"] == "invalid_message_format"


async def test_only_readable_rooms_are_searched(client: Client, seeded: Seeded) -> None:
    alice, bob, carol = (seeded.accounts[n] for n in ("alice", "bob", "carol"))
    t = tag()
    closed = await new_room_id(client, alice, bob)
    open_room = await new_room_id(client, alice, kind="open")
    await send(client, alice, closed, f"{t} secret plans")
    await send(client, alice, open_room, f"{t} public plans")
    assert await found(client, bob, f"{t} plans") == [f"{t} public plans", f"{t} secret plans"]
    # Carol is in neither room: the open one is readable to her, the closed one is not.
    assert await found(client, carol, f"{t} plans") == [f"{t} public plans"]
    data = await search(client, carol, expect=403, q="plans", room_id=closed)
    assert data["code"] == "room_access_denied"
    missing = str(uuid.uuid4())
    data = await search(client, carol, expect=404, q="plans", room_id=missing)
    assert data["code"] == "not_found"
    assert await found(client, bob, f"{t} plans", room_id=closed) == [f"{t} secret plans"]
    # Leaving a room takes its messages out of one's results.
    await call(client, "DELETE", f"/api/rooms/{closed}/members/{bob.id}", bob, expect=204)
    assert await found(client, bob, f"{t} plans") == [f"{t} public plans"]


async def test_limit_and_before_id_page_back_in_time(client: Client, seeded: Seeded) -> None:
    alice = seeded.accounts["alice"]
    rid = await new_room_id(client, alice)
    t = tag()
    sent = [await send(client, alice, rid, f"{t} page {i}") for i in range(7)]
    first = await search(client, alice, q=t, limit=3)
    assert [m["id"] for m in first["messages"]] == [m["id"] for m in reversed(sent[-3:])]
    second = await search(client, alice, q=t, limit=3, before_id=first["messages"][-1]["id"])
    assert [m["id"] for m in second["messages"]] == [m["id"] for m in reversed(sent[1:4])]
    third = await search(client, alice, q=t, limit=3, before_id=sent[1]["id"])
    assert [m["id"] for m in third["messages"]] == [sent[0]["id"]]
    data = await search(client, alice, expect=404, q=t, before_id=str(uuid.uuid4()))
    assert data["code"] == "not_found"
    # Above the maximum counts as the maximum.
    assert len((await search(client, alice, q=t, limit=100000))["messages"]) == 7


async def test_search_needs_a_session(client: Client) -> None:
    async with client.get("/api/search", params={"q": "a"}) as response:
        assert response.status == 401
        assert (await response.json())["code"] == "auth_required"


async def test_edits_and_deletes_are_reflected_at_once(client: Client, seeded: Seeded) -> None:
    alice = seeded.accounts["alice"]
    rid = await new_room_id(client, alice)
    t = tag()
    message = await send(client, alice, rid, f"{t} original wording")
    kept = await send(client, alice, rid, f"{t} another original")
    path = f"/api/rooms/{rid}/messages/{message['id']}"
    await call(client, "PATCH", path, alice, json={"content": f"{t} revised text"}, expect=200)
    assert await found(client, alice, f"{t} original") == [f"{t} another original"]
    assert await found(client, alice, f"{t} revised") == [f"{t} revised text"]
    await call(client, "DELETE", path, alice, expect=204)
    assert await found(client, alice, f"{t} revised") == []
    assert await found(client, alice, t) == [kept["content"]]
