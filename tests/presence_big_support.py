"""Scenarios of presence in rooms too big for live presence (app/services/live_presence.py),
run by tests/test_presence_big_rooms.py on one in-memory server and on a Redis cluster.

The servers run with CAMPFIRE_LIVE_PRESENCE_MAX_MEMBERS=3: a room of 4 members is big. An
event that must not come is shown absent by a marker message sent after it would have gone
out: the room's stream is ordered, so once the marker arrives nothing earlier is on its way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support import Api, Client

MAX_MEMBERS = "3"
Connect = Callable[[Api], Any]  # an awaitable of a synced Client


async def marker(client: Client, sender: Api, room_id: str) -> int:
    """Index in `client.events` after which everything sent to the room before now is in."""
    sent = await sender.send(room_id, "marker")
    await client.wait_for("NewMessage", lambda d: d["message"]["id"] == sent["id"])
    return len(client.events)


def presence_events(client: Client, room_id: str, after: int = 0) -> list[tuple[str, Any]]:
    return [
        (name, data)
        for name, data in client.events[after:]
        if name in ("UserJoined", "UserLeft") and data.get("room_id") == room_id
    ]


def welcome(client: Client, room_id: str) -> dict[str, Any]:
    return next(d for d in client.named("PresenceUpdate") if d["room_id"] == room_id)


async def small_and_big_rooms(
    alice: Api, bob: Api, others: list[Api], connect_alice: Connect, connect_bob: Connect
) -> None:
    small = await alice.create_room("small", "closed", [bob.id])
    big = await alice.create_room("big", "closed", [bob.id, *(u.id for u in others)])
    watcher = await connect_alice(alice)
    # The small room's welcome is exactly PROTOCOL.md's; the big room's is bounded.
    assert welcome(watcher, small["id"]) == {"room_id": small["id"], "online_users": [alice.id]}
    assert welcome(watcher, big["id"]) == {
        "room_id": big["id"],
        "online_users": [alice.id],
        "live": False,
    }

    tab = await connect_bob(bob)
    await watcher.wait_for("UserJoined", lambda d: d == {"user_id": bob.id, "room_id": small["id"]})
    # Bob's welcome in the big room does not list Alice, who is online: it is bounded.
    assert welcome(tab, big["id"]) == {
        "room_id": big["id"],
        "online_users": [bob.id],
        "live": False,
    }
    assert welcome(tab, small["id"])["online_users"] == [alice.id, bob.id]
    seen = await marker(watcher, alice, big["id"])
    assert presence_events(watcher, big["id"]) == []

    # On request the big room's presence is whole, from both processes' sockets.
    ack = await watcher.call("GetPresence", {"room_id": big["id"]})
    assert ack == {
        "type": "PresenceUpdate",
        "data": {"room_id": big["id"], "online_users": [alice.id, bob.id], "live": False},
    }
    ack = await tab.call("GetPresence", {"room_id": small["id"]})
    assert ack == {
        "type": "PresenceUpdate",
        "data": {"room_id": small["id"], "online_users": [alice.id, bob.id]},
    }
    _, body = await alice.call("GET", f"/api/rooms/{big['id']}/presence", expect=200)
    assert body["online_users"] == [alice.id, bob.id] and body["live"] is False
    assert set(body["recently_active"]) >= {alice.id, bob.id}
    _, body = await alice.call("GET", f"/api/rooms/{small['id']}/presence", expect=200)
    assert set(body) == {"online_users", "recently_active"}

    await tab.close()
    await watcher.wait_for(
        "UserLeft", lambda d: d == {"user_id": bob.id, "room_id": small["id"]}, after=seen
    )
    await marker(watcher, alice, big["id"])
    assert presence_events(watcher, big["id"]) == []
    ack = await watcher.call("GetPresence", {"room_id": big["id"]})
    assert ack["data"]["online_users"] == [alice.id]
    await watcher.close()


async def crossing_the_threshold(
    alice: Api, bob: Api, carol: Api, dave: Api, connect_alice: Connect, connect_bob: Connect
) -> None:
    room = await alice.create_room("grows", "closed", [bob.id, carol.id])  # 3: live
    watcher = await connect_alice(alice)
    assert "live" not in welcome(watcher, room["id"])
    dave_tab = await connect_bob(dave)  # online, not yet a member
    bob_tab = await connect_bob(bob)
    await watcher.wait_for("UserJoined", lambda d: d == {"user_id": bob.id, "room_id": room["id"]})
    await bob_tab.close()
    await watcher.wait_for("UserLeft", lambda d: d == {"user_id": bob.id, "room_id": room["id"]})

    # A fourth member makes it big: adding an online member, Bob coming and going, and Bob's
    # welcome all stop being pushed room-wide.
    seen = len(watcher.events)
    path = f"/api/rooms/{room['id']}/members"
    await alice.call("POST", path, {"user_id": dave.id}, expect=201)
    await dave_tab.wait_for("RoomJoined", lambda d: d["room"]["id"] == room["id"])
    bob_tab = await connect_bob(bob)
    assert welcome(bob_tab, room["id"]) == {
        "room_id": room["id"],
        "online_users": [bob.id],
        "live": False,
    }
    await bob_tab.close()
    await marker(watcher, alice, room["id"])
    assert presence_events(watcher, room["id"], seen) == []
    ack = await watcher.call("GetPresence", {"room_id": room["id"]})
    assert ack["data"] == {
        "room_id": room["id"],
        "online_users": [alice.id, dave.id],
        "live": False,
    }

    # Back to three members: live again, for a removal as for coming online.
    await alice.call("DELETE", f"{path}/{carol.id}", expect=204)
    await watcher.wait_for("RoomUpdated", lambda d: len(d["room"]["member_ids"]) == 3, after=seen)
    seen = len(watcher.events)
    bob_tab = await connect_bob(bob)
    await watcher.wait_for(
        "UserJoined", lambda d: d == {"user_id": bob.id, "room_id": room["id"]}, after=seen
    )
    assert welcome(bob_tab, room["id"]) == {
        "room_id": room["id"],
        "online_users": [alice.id, bob.id, dave.id],
    }
    await alice.call("DELETE", f"{path}/{dave.id}", expect=204)
    await watcher.wait_for(
        "UserLeft", lambda d: d == {"user_id": dave.id, "room_id": room["id"]}, after=seen
    )
    await bob_tab.close()
    await dave_tab.close()
    await watcher.close()
