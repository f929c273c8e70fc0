"""Message lifecycle over sockets (PROTOCOL.md 9.1): the events, their acks and broadcasts,
and recovery of changes after a reconnect (`last_rev`), through every auth mode."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api, Client, new_id


def msg(room_id: str, content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"room_id": room_id, "content": content, "client_message_id": new_id(), **extra}


async def connected(server: Any, who: Api, **auth: Any) -> Client:
    client = await Client(server.url).connect(auth={"token": who.token, **auth})
    await client.synced()
    return client


async def test_events_ack_with_message_updated_and_reach_the_room(server, user_factory) -> None:
    alice, bob, carol = [await user_factory(n) for n in ("alice", "bob", "carol")]
    room = await alice.create_room("team", "closed", [bob.id])
    a, b, c = [await connected(server, u) for u in (alice, bob, carol)]
    try:
        sent = await a.call("NewMessage", msg(room["id"], "hi bob", mention_ids=[bob.id]))
        assert sent["type"] == "MessageDelivered"
        mid = sent["data"]["message_id"]
        new = await b.wait_for("NewMessage", lambda d: d["message"]["id"] == mid)
        assert new["message"]["mention_ids"] == [bob.id] and new["message"]["rev"] == 0

        edit = await a.call("EditMessage", {"message_id": mid, "content": "hi Bob"})
        assert edit["type"] == "MessageUpdated"
        assert edit["data"]["rev"] == 1 and edit["data"]["room_id"] == room["id"]
        assert edit["data"]["message"]["content"] == "hi Bob"
        assert edit["data"]["message"]["edited_at"] is not None
        boost = await b.call("AddBoost", {"message_id": mid, "content": "👋"})
        assert boost["type"] == "MessageUpdated" and boost["data"]["rev"] == 2
        [added] = boost["data"]["message"]["boosts"]
        again = await b.call("AddBoost", {"message_id": mid, "content": "👋"})
        assert again["data"]["rev"] == 2 and again["data"]["message"]["boosts"] == [added]
        removed = await b.call("RemoveBoost", {"message_id": mid, "boost_id": added["id"]})
        assert removed["data"]["rev"] == 3 and removed["data"]["message"]["boosts"] == []
        gone = await a.call("DeleteMessage", {"message_id": mid})
        assert gone["data"]["rev"] == 4 and gone["data"]["message"]["deleted"] is True
        assert gone["data"]["message"]["content"] == ""
        # Every change reached both members' sockets (the actor's included), in rev order.
        for client in (a, b):
            await client.wait_for("MessageUpdated", lambda d: d["rev"] == 4)
            revs = [d["rev"] for d in client.named("MessageUpdated")]
            assert revs == [1, 2, 3, 4], revs
        assert c.named("MessageUpdated") == []
    finally:
        for client in (a, b, c):
            await client.close()


async def test_rules_and_errors_over_sockets(server, user_factory, admin) -> None:
    alice, bob, carol = [await user_factory(n) for n in ("alice", "bob", "carol")]
    room = await alice.create_room("team", "closed", [bob.id])
    a, b, c = [await connected(server, u) for u in (alice, bob, carol)]
    try:
        mid = (await a.call("NewMessage", msg(room["id"])))["data"]["message_id"]
        cases = [
            (b, "EditMessage", {"message_id": mid, "content": "mine"}, "forbidden"),
            (b, "DeleteMessage", {"message_id": mid}, "forbidden"),
            (c, "EditMessage", {"message_id": mid, "content": "x"}, "room_access_denied"),
            (c, "AddBoost", {"message_id": mid, "content": "👍"}, "room_access_denied"),
            (a, "EditMessage", {"message_id": new_id(), "content": "x"}, "not_found"),
            (a, "RemoveBoost", {"message_id": mid, "boost_id": new_id()}, "not_found"),
            (a, "EditMessage", {"message_id": mid, "content": " "}, "invalid_message_format"),
            (a, "EditMessage", {"message_id": "x", "content": "x"}, "invalid_message_format"),
            (a, "AddBoost", {"message_id": mid, "content": "x" * 17}, "invalid_message_format"),
            (a, "AddBoost", {"message_id": mid}, "invalid_message_format"),
            (
                a,
                "EditMessage",
                {"message_id": mid, "content": "x", "mention_ids": [carol.id]},
                "invalid_message_format",
            ),
            (
                a,
                "EditMessage",
                {"message_id": mid, "content": "x", "room_id": new_id()},
                "not_found",
            ),
        ]
        for client, event, payload, code in cases:
            answer = await client.call(event, payload)
            assert answer["type"] == "Error", (event, payload, answer)
            assert answer["data"]["code"] == code, (event, payload, answer)
        # Mentions of non-members (or more than 50) on a send are refused, nothing stored.
        for mentions in ([carol.id], [bob.id] * 51):
            refused = await a.call("NewMessage", msg(room["id"], mention_ids=mentions))
            assert refused["type"] == "MessageError"
            assert refused["data"]["code"] == "invalid_message_format"
        assert len(await alice.history(room["id"])) == 1
        # Without an ack callback, a failure comes as an Error event.
        await b.sio.emit("DeleteMessage", {"message_id": mid})
        error = await b.wait_for("Error")
        assert error["code"] == "forbidden"
        await a.call("DeleteMessage", {"message_id": mid})
        for event, payload in (
            ("EditMessage", {"message_id": mid, "content": "x"}),
            ("AddBoost", {"message_id": mid, "content": "👍"}),
        ):
            answer = await a.call(event, payload)
            assert answer["data"]["code"] == "not_found", (event, answer)
        # An admin may delete a member's message (as a member of the room).
        await admin.call("POST", f"/api/rooms/{room['id']}/members", {"user_id": admin.id})
        mid2 = (await b.call("NewMessage", msg(room["id"])))["data"]["message_id"]
        boss = await connected(server, admin)
        try:
            answer = await boss.call("DeleteMessage", {"message_id": mid2})
            assert answer["type"] == "MessageUpdated" and answer["data"]["message"]["deleted"]
        finally:
            await boss.close()
    finally:
        for client in (a, b, c):
            await client.close()


AUTH_MODES = ["payload", "header", "query", "event"]


@pytest.mark.parametrize("mode", AUTH_MODES)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_recovery_replays_changes_after_last_rev(
    server, user_factory, mode: str, transport: str
) -> None:
    alice, bob = [await user_factory(n) for n in ("alice", "bob")]
    room = await alice.create_room("team", "closed", [bob.id])
    other = await alice.create_room("quiet", "closed", [bob.id])
    base = f"/api/rooms/{room['id']}/messages"
    kept, edited, boosted, deleted = [await alice.send(room["id"], f"m{i}") for i in range(4)]
    await alice.call("PATCH", f"{base}/{kept['id']}", {"content": "seen already"}, expect=200)
    # Bob was in sync up to here: seq 4, rev 1.
    last_seen = {room["id"]: 4, other["id"]: 0}
    last_rev = {room["id"]: 1, other["id"]: 0}
    # While he is away: an edit, a boost, a delete, and a new message edited after it was sent.
    await alice.call("PATCH", f"{base}/{edited['id']}", {"content": "m1 fixed"}, expect=200)
    _, data = await alice.call(
        "POST", f"{base}/{boosted['id']}/boosts", {"content": "🚀"}, expect=201
    )
    boost_id = data["boost"]["id"]
    await alice.call("DELETE", f"{base}/{deleted['id']}", expect=204)
    fresh = await alice.send(room["id"], "new while away")
    await alice.call("PATCH", f"{base}/{fresh['id']}", {"content": "new, edited"}, expect=200)

    client = Client(server.url)
    cursors = {"last_seen": last_seen, "last_rev": last_rev}
    client = await _reconnect_with(client, server, bob, mode, transport, cursors)
    try:
        sync = await client.synced()
        missed = [d["message"] for d in client.named("NewMessage")]
        assert [m["id"] for m in missed] == [fresh["id"]]
        assert missed[0]["content"] == "new, edited"  # its current state
        updates = client.named("MessageUpdated")
        assert [(u["message"]["id"], u["rev"]) for u in updates] == [
            (edited["id"], 2),
            (boosted["id"], 3),
            (deleted["id"], 4),
            (fresh["id"], 5),
        ]
        assert updates[0]["message"]["content"] == "m1 fixed"
        assert [b["id"] for b in updates[1]["message"]["boosts"]] == [boost_id]
        assert updates[2]["message"]["deleted"] is True
        # The updates come after the room's NewMessages and before SyncComplete.
        order = [name for name, _ in client.events]
        assert order.index("NewMessage") < order.index("MessageUpdated")
        assert max(i for i, n in enumerate(order) if n == "MessageUpdated") < order.index(
            "SyncComplete"
        )
        rooms = {r["room_id"]: r for r in sync["rooms"]}
        assert rooms[room["id"]]["last_rev"] == 5 and rooms[room["id"]]["last_seq"] == 5
        assert rooms[other["id"]]["last_rev"] == 0
        assert sync["missed_count"] == 1 and sync["truncated"] is False
    finally:
        await client.close()


async def _reconnect_with(
    client: Client, server: Any, who: Api, mode: str, transport: str, cursors: dict[str, Any]
) -> Client:
    options: dict[str, Any] = {"transports": [transport]}
    if mode == "payload":
        return await client.connect(auth={"token": who.token, **cursors}, **options)
    if mode == "header":
        headers = {"Authorization": f"Bearer {who.token}"}
        return await client.connect(headers=headers, auth=cursors, **options)
    if mode == "query":
        return await client.connect(f"?token={who.token}", auth=cursors, **options)
    await client.connect(**options)
    await client.sio.emit("Auth", {"session_token": who.token, **cursors})
    return client


async def test_a_room_missing_from_last_rev_gets_no_updates(server, user_factory) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("r", "closed")
    sent = await alice.send(room["id"], "x")
    base = f"/api/rooms/{room['id']}/messages"
    await alice.call("PATCH", f"{base}/{sent['id']}", {"content": "y"}, expect=200)
    client = await connected(server, alice, last_seen={room["id"]: 1})
    try:
        sync = await client.synced()
        assert client.named("MessageUpdated") == []
        assert sync["rooms"][0]["last_rev"] == 1
    finally:
        await client.close()


async def test_more_than_500_changes_are_truncated(server, user_factory) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("busy", "closed")
    base = f"/api/rooms/{room['id']}/messages"
    sent = [await alice.send(room["id"], f"m{i}") for i in range(3)]
    a = await connected(server, alice)
    try:
        # 501 changed messages would take 501 messages; 501 changes of 3 messages replay 3, so
        # make the cap visible by changing 501 distinct messages.
        for i in range(498):
            sent.append(await alice.send(room["id"], f"more {i}"))
        for message in sent:
            await a.call("AddBoost", {"message_id": message["id"], "content": "+1"})
    finally:
        await a.close()
    client = await connected(server, alice, last_seen={room["id"]: 501}, last_rev={room["id"]: 0})
    try:
        sync = await client.synced()
        updates = client.named("MessageUpdated")
        assert [u["rev"] for u in updates] == list(range(1, 501))
        assert sync["truncated"] is True and sync["rooms"][0]["last_rev"] == 501
        _, data = await alice.call("GET", base, params={"after_rev": 500}, expect=200)
        assert [m["rev"] for m in data["messages"]] == [501]
    finally:
        await client.close()
