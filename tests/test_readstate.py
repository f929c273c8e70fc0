"""Read state and involvement (PROTOCOL.md section 9.2) over real sockets and HTTP."""

from __future__ import annotations

from typing import Any

from tests.support import Client, new_id


def _room(rooms: list[dict[str, Any]], room_id: str) -> dict[str, Any]:
    return next(room for room in rooms if room["id"] == room_id)


async def _rooms(api: Any) -> list[dict[str, Any]]:
    _, data = await api.call("GET", "/api/rooms", expect=200)
    return data["rooms"]


async def test_read_state_follows_the_user_across_connections(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("reading", "open", [bob.id])
    for n in range(3):
        await alice.send(room["id"], f"m{n}")
    phone = await Client(server.url).connect(auth={"token": bob.token})
    laptop = await Client(server.url).connect(auth={"token": bob.token})
    try:
        await phone.synced()
        await laptop.synced()
        welcome = _room((await laptop.wait_for("AuthSuccess"))["rooms"], room["id"])
        assert welcome["last_seq"] == 3
        assert welcome["last_read_seq"] == 0
        assert welcome["unread_count"] == 3
        assert welcome["mentioned"] is False
        assert welcome["involvement"] == "mentions"

        ack = await phone.call("MarkRead", {"room_id": room["id"], "seq": 2})
        assert ack == {"type": "RoomRead", "data": {"room_id": room["id"], "last_read_seq": 2}}
        assert await laptop.wait_for("RoomRead") == {"room_id": room["id"], "last_read_seq": 2}

        # The asking socket has its answer in the ack, not a second copy as an event.
        ack = await laptop.call("MarkRead", {"room_id": room["id"], "seq": 3})
        assert ack["data"]["last_read_seq"] == 3
        await phone.wait_for("RoomRead", lambda d: d["last_read_seq"] == 3)
        assert [d["last_read_seq"] for d in laptop.named("RoomRead")] == [2]

        listed = _room(await _rooms(bob), room["id"])
        assert (listed["last_read_seq"], listed["unread_count"]) == (3, 0)
    finally:
        await phone.close()
        await laptop.close()


async def test_last_read_seq_only_moves_forward(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("forward", "closed", [bob.id])
    for n in range(5):
        await alice.send(room["id"], f"m{n}")
    path = f"/api/rooms/{room['id']}/read"
    _, data = await bob.call("POST", path, {"seq": 4}, expect=200)
    assert data == {"room_id": room["id"], "last_read_seq": 4}
    other = await Client(server.url).connect(auth={"token": bob.token})
    try:
        await other.synced()
        # Lower (and equal) seqs change nothing and announce nothing.
        _, data = await bob.call("POST", path, {"seq": 1}, expect=200)
        assert data["last_read_seq"] == 4
        ack = await other.call("MarkRead", {"room_id": room["id"], "seq": 4})
        assert ack["data"]["last_read_seq"] == 4
        # A seq past the room's last message is refused.
        _, error = await bob.call("POST", path, {"seq": 6}, expect=422)
        assert error["code"] == "invalid_message_format"
        ack = await other.call("MarkRead", {"room_id": room["id"], "seq": 6})
        assert ack["type"] == "Error" and ack["data"]["code"] == "invalid_message_format"
        # An HTTP mark that moves it reaches the sockets.
        await bob.call("POST", path, {"seq": 5}, expect=200)
        assert await other.wait_for("RoomRead") == {"room_id": room["id"], "last_read_seq": 5}
        assert len(other.named("RoomRead")) == 1
    finally:
        await other.close()
    assert _room(await _rooms(bob), room["id"])["last_read_seq"] == 5


async def test_mark_read_checks_access_and_input(server, user_factory) -> None:
    alice, mallory = await user_factory("alice"), await user_factory("mallory")
    room = await alice.create_room("secret", "closed")
    await alice.send(room["id"], "hidden")
    _, error = await mallory.call("POST", f"/api/rooms/{room['id']}/read", {"seq": 1}, expect=403)
    assert error["code"] == "room_access_denied"
    _, error = await mallory.call("POST", f"/api/rooms/{new_id()}/read", {"seq": 1}, expect=404)
    assert error["code"] == "not_found"
    for bad in (
        {"seq": -1},
        {"seq": "1"},
        {},
        {"seq": 1, "extra": True},
        {"seq": 1.5},
        {"seq": True},
    ):
        _, error = await alice.call("POST", f"/api/rooms/{room['id']}/read", bad, expect=422)
        assert error["code"] == "invalid_message_format"
    client = await Client(server.url).connect(auth={"token": mallory.token})
    try:
        await client.synced()
        ack = await client.call("MarkRead", {"room_id": room["id"], "seq": 1})
        assert ack["data"]["code"] == "room_access_denied"
        ack = await client.call("MarkRead", {"room_id": "not-a-uuid", "seq": 1})
        assert ack["data"]["code"] == "invalid_message_format"
    finally:
        await client.close()


async def test_unread_counts_exclude_own_messages_and_sending_marks_read(
    server, user_factory
) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("counting", "open", [bob.id])
    await alice.send(room["id"], "a1")
    await bob.send(room["id"], "b1")  # marks read up to 2 for bob
    await alice.send(room["id"], "a2")
    await alice.send(room["id"], "a3")
    state = _room(await _rooms(bob), room["id"])
    assert (state["last_seq"], state["last_read_seq"], state["unread_count"]) == (4, 2, 2)
    # Alice sent the last message: everything is read for her, and her own messages never
    # count as unread.
    state = _room(await _rooms(alice), room["id"])
    assert (state["last_read_seq"], state["unread_count"]) == (4, 0)
    await bob.call("POST", f"/api/rooms/{room['id']}/read", {"seq": 3}, expect=200)
    assert _room(await _rooms(bob), room["id"])["unread_count"] == 1


async def test_sending_over_a_socket_marks_read_for_the_sender(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("socket-send", "open", [bob.id])
    await alice.send(room["id"], "before")
    client = await Client(server.url).connect(auth={"token": bob.token})
    try:
        await client.synced()
        ack = await client.call(
            "NewMessage", {"room_id": room["id"], "content": "hi", "client_message_id": new_id()}
        )
        assert ack["data"]["seq"] == 2
    finally:
        await client.close()
    state = _room(await _rooms(bob), room["id"])
    assert (state["last_read_seq"], state["unread_count"]) == (2, 0)


async def test_involvement_defaults_and_changes(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    group = await alice.create_room("group", "open", [bob.id])
    direct = await alice.create_room("dm", "direct", [bob.id])
    rooms = await _rooms(bob)
    assert _room(rooms, group["id"])["involvement"] == "mentions"
    assert _room(rooms, direct["id"])["involvement"] == "everything"

    tab = await Client(server.url).connect(auth={"token": bob.token})
    try:
        await tab.synced()
        path = f"/api/rooms/{group['id']}/membership"
        for level in ("everything", "nothing", "invisible", "mentions"):
            _, data = await bob.call("PATCH", path, {"involvement": level}, expect=200)
            assert data["room"]["id"] == group["id"]
            assert data["room"]["involvement"] == level
            assert _room(await _rooms(bob), group["id"])["involvement"] == level
            updated = await tab.wait_for(
                "RoomUpdated", lambda d, level=level: d["room"].get("involvement") == level
            )
            assert updated["room"]["unread_count"] == 0
        # Alice's involvement is her own.
        assert _room(await _rooms(alice), group["id"])["involvement"] == "mentions"
    finally:
        await tab.close()

    _, error = await bob.call("PATCH", path, {"involvement": "loud"}, expect=422)
    assert error["code"] == "invalid_message_format"
    closed = await alice.create_room("closed", "closed")
    carol = await user_factory("carol")
    _, error = await carol.call(
        "PATCH", f"/api/rooms/{closed['id']}/membership", {"involvement": "nothing"}, expect=403
    )
    assert error["code"] == "room_access_denied"
    _, error = await carol.call(
        "PATCH", f"/api/rooms/{new_id()}/membership", {"involvement": "nothing"}, expect=404
    )
    assert error["code"] == "not_found"


async def _send(api: Any, room_id: str, content: str, mention_ids: tuple[str, ...] = ()) -> Any:
    body = {"content": content, "mention_ids": list(mention_ids)}
    _, data = await api.call("POST", f"/api/rooms/{room_id}/messages", body, expect=201)
    return data["message"]


async def test_tombstones_do_not_count_and_mentions_are_flagged(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("lifecycle", "open", [bob.id])
    await _send(alice, room["id"], "one")
    doomed = await _send(alice, room["id"], "two")
    await alice.call("DELETE", f"/api/rooms/{room['id']}/messages/{doomed['id']}", expect=204)
    state = _room(await _rooms(bob), room["id"])
    assert (state["last_seq"], state["unread_count"], state["mentioned"]) == (2, 1, False)

    mention = await _send(alice, room["id"], "hey @bob", (bob.id,))
    await _send(alice, room["id"], "after")
    state = _room(await _rooms(bob), room["id"])
    assert (state["unread_count"], state["mentioned"]) == (3, True)
    # Alice named only bob: she is not mentioned, and her own messages never count.
    assert _room(await _rooms(alice), room["id"])["mentioned"] is False

    # Read past the mention: no longer flagged.
    await bob.call("POST", f"/api/rooms/{room['id']}/read", {"seq": mention["seq"]}, expect=200)
    state = _room(await _rooms(bob), room["id"])
    assert (state["unread_count"], state["mentioned"]) == (1, False)

    # A deleted mention flags nothing.
    gone = await _send(alice, room["id"], "psst @bob", (bob.id,))
    assert _room(await _rooms(bob), room["id"])["mentioned"] is True
    await alice.call("DELETE", f"/api/rooms/{room['id']}/messages/{gone['id']}", expect=204)
    state = _room(await _rooms(bob), room["id"])
    assert (state["unread_count"], state["mentioned"]) == (1, False)
    client = await Client(server.url).connect(auth={"token": bob.token})
    try:
        welcome = _room((await client.wait_for("AuthSuccess"))["rooms"], room["id"])
        assert (welcome["unread_count"], welcome["mentioned"]) == (1, False)
    finally:
        await client.close()
