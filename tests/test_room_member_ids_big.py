"""Rooms too big to list (CAMPFIRE_ROOM_MEMBER_IDS_MAX, here 3): wherever rooms go out unasked
(AuthSuccess, GET /api/rooms, RoomJoined, RoomUpdated, the answers of changes) a room of 4
members carries `member_count` and no `member_ids`; a small room keeps `member_ids` exactly;
GET /api/rooms/{id} still lists everyone; the count follows joins and leaves, and a room
switches back to its ids when it shrinks to the bound. On one real server over sockets."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.scaleout_support import new_user
from tests.support import ADMIN_EMAIL, Api, Client, ServerProcess, login

MAX_IDS = 3
ENV = {"CAMPFIRE_ROOM_MEMBER_IDS_MAX": str(MAX_IDS)}


async def _people(http: aiohttp.ClientSession, server: ServerProcess, n: int) -> list[Api]:
    boss = await login(http, server.url, ADMIN_EMAIL)
    return [await new_user(boss, http, server, f"m{k}") for k in range(n)]


async def _welcome(server: ServerProcess, who: Api) -> tuple[Client, dict[str, dict[str, Any]]]:
    client = await Client(server.url).connect(auth={"token": who.token})
    await client.synced()
    (auth,) = client.named("AuthSuccess")
    return client, {room["id"]: room for room in auth["rooms"]}


async def _rooms_on_welcome(server: ServerProcess, who: Api) -> dict[str, dict[str, Any]]:
    """The rooms of a fresh connection's AuthSuccess; the connection is closed again."""
    client, rooms = await _welcome(server, who)
    await client.close()
    return rooms


def _counted(room: dict[str, Any], count: int) -> bool:
    return "member_ids" not in room and room.get("member_count") == count


async def test_big_room_is_counted_small_room_is_listed(make_server, http) -> None:
    server = make_server(**ENV)
    alice, bob, carol, dave = await _people(http, server, 4)
    small = await alice.create_room("small", "closed", [bob.id])
    # The answer of the creation is a room going out unasked too (and so is its RoomJoined).
    big = await alice.create_room("big", "closed", [bob.id, carol.id, dave.id])
    assert _counted(big, 4), big
    assert small["member_ids"] == [alice.id, bob.id] and "member_count" not in small

    bob_tab, _ = await _welcome(server, bob)
    watcher, rooms = await _welcome(server, alice)
    try:
        assert _counted(rooms[big["id"]], 4), rooms[big["id"]]
        assert rooms[small["id"]]["member_ids"] == [alice.id, bob.id]
        assert "member_count" not in rooms[small["id"]]
        # Presence is still live at 4 members (CAMPFIRE_LIVE_PRESENCE_MAX_MEMBERS is 1,000):
        # its welcome lists who is online though AuthSuccess did not list the members.
        presence = {d["room_id"]: d for d in watcher.named("PresenceUpdate")}
        assert presence[big["id"]] == {"room_id": big["id"], "online_users": [alice.id, bob.id]}

        _, listed = await alice.call("GET", "/api/rooms", expect=200)
        by_id = {room["id"]: room for room in listed["rooms"]}
        assert _counted(by_id[big["id"]], 4)
        assert by_id[small["id"]]["member_ids"] == [alice.id, bob.id]

        # Asked for by id, the room is whole.
        _, one = await alice.call("GET", f"/api/rooms/{big['id']}", expect=200)
        assert one["room"]["member_ids"] == [alice.id, bob.id, carol.id, dave.id]
        assert "member_count" not in one["room"]

        # A membership setting's answer and RoomUpdated are counted as well.
        path = f"/api/rooms/{big['id']}/membership"
        _, changed = await alice.call("PATCH", path, {"involvement": "everything"}, expect=200)
        assert _counted(changed["room"], 4) and changed["room"]["involvement"] == "everything"
    finally:
        await watcher.close()
        await bob_tab.close()


async def test_member_count_follows_joins_and_leaves(make_server, http) -> None:
    server = make_server(**ENV)
    alice, bob, carol, dave, eve = await _people(http, server, 5)
    room = await alice.create_room("lobby", "open", [bob.id, carol.id])
    watcher, rooms = await _welcome(server, alice)
    eve_tab, _ = await _welcome(server, eve)
    try:
        assert rooms[room["id"]]["member_ids"] == [alice.id, bob.id, carol.id]

        # The fourth member makes it big: RoomUpdated to the room, HTTP answer, RoomJoined.
        seen = len(watcher.events)
        path = f"/api/rooms/{room['id']}/members"
        _, added = await alice.call("POST", path, {"user_id": dave.id}, expect=201)
        assert _counted(added["room"], 4), added
        await watcher.wait_for("RoomUpdated", lambda d: _counted(d["room"], 4), after=seen)

        # The fifth joins over the socket: its ack and its RoomJoined carry the count.
        seen = len(watcher.events)
        ack = await eve_tab.call("JoinRoom", {"room_id": room["id"]})
        assert ack["type"] == "RoomJoined" and _counted(ack["data"]["room"], 5), ack
        joined = await eve_tab.wait_for("RoomJoined", lambda d: d["room"]["id"] == room["id"])
        assert _counted(joined["room"], 5)
        await watcher.wait_for("RoomUpdated", lambda d: _counted(d["room"], 5), after=seen)
        rooms = await _rooms_on_welcome(server, alice)
        assert _counted(rooms[room["id"]], 5)

        # Leaving counts down, and at the bound the room is listed again.
        seen = len(watcher.events)
        await eve.call("DELETE", f"{path}/{eve.id}", expect=204)
        await watcher.wait_for("RoomUpdated", lambda d: _counted(d["room"], 4), after=seen)
        rooms = await _rooms_on_welcome(server, alice)
        assert _counted(rooms[room["id"]], 4)

        seen = len(watcher.events)
        await dave.call("DELETE", f"{path}/{dave.id}", expect=204)
        updated = await watcher.wait_for(
            "RoomUpdated", lambda d: "member_ids" in d["room"], after=seen
        )
        assert updated["room"]["member_ids"] == [alice.id, bob.id, carol.id]
        assert "member_count" not in updated["room"]
        rooms = await _rooms_on_welcome(server, alice)
        assert rooms[room["id"]]["member_ids"] == [alice.id, bob.id, carol.id]
        assert "member_count" not in rooms[room["id"]]
    finally:
        await watcher.close()
        await eve_tab.close()


async def test_default_bound_keeps_ordinary_rooms_listed(make_server, http) -> None:
    """The default bound (1,000) leaves rooms of ordinary size exactly as before."""
    server = make_server()
    alice, bob, carol, dave = await _people(http, server, 4)
    room = await alice.create_room("four", "closed", [bob.id, carol.id, dave.id])
    client, rooms = await _welcome(server, alice)
    await client.close()
    assert rooms[room["id"]]["member_ids"] == [alice.id, bob.id, carol.id, dave.id]
    assert "member_count" not in rooms[room["id"]]
