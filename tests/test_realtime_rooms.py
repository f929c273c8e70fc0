"""Room events: RoomJoined/RoomLeft/RoomUpdated by socket or HTTP, and the per-connection cap."""

from __future__ import annotations

from tests.support import ADMIN_EMAIL, Client, login


async def test_join_and_leave_an_open_room(server, user_factory) -> None:
    owner, joiner = await user_factory("owner"), await user_factory("joiner")
    room = await owner.create_room("lobby", "open")
    closed = await owner.create_room("private", "closed")
    tab1 = await Client(server.url).connect(auth={"token": joiner.token})
    tab2 = await Client(server.url).connect(auth={"token": joiner.token})
    watcher = await Client(server.url).connect(auth={"token": owner.token})
    try:
        for c in (tab1, tab2, watcher):
            await c.synced()
        ack = await tab1.call("JoinRoom", {"room_id": room["id"]})
        assert ack["type"] == "RoomJoined" and ack["data"]["room"]["id"] == room["id"]
        assert joiner.id in ack["data"]["room"]["member_ids"]
        for tab in (tab1, tab2):
            joined = await tab.wait_for("RoomJoined")
            assert joined["room"]["id"] == room["id"]
        await watcher.wait_for(
            "UserJoined", lambda d: d == {"user_id": joiner.id, "room_id": room["id"]}
        )
        # Both tabs now receive the room's messages.
        sent = await owner.send(room["id"], "welcome")
        for tab in (tab1, tab2):
            await tab.wait_for("NewMessage", lambda d: d["message"]["id"] == sent["id"])
        # Joining again is answered the same way.
        assert (await tab1.call("JoinRoom", {"room_id": room["id"]}))["type"] == "RoomJoined"
        refused = await tab1.call("JoinRoom", {"room_id": closed["id"]})
        assert refused["data"]["code"] == "room_access_denied"

        ack = await tab2.call("LeaveRoom", {"room_id": room["id"]})
        assert ack == {"type": "RoomLeft", "data": {"room_id": room["id"]}}
        for tab in (tab1, tab2):
            assert await tab.wait_for("RoomLeft") == {"room_id": room["id"]}
        after = await owner.send(room["id"], "you left")
        await watcher.wait_for("NewMessage", lambda d: d["message"]["id"] == after["id"])
        marker = await joiner.send((await joiner.create_room("own", "closed"))["id"], "marker")
        await tab1.wait_for("NewMessage", lambda d: d["message"]["id"] == marker["id"])
        assert all(d["message"]["id"] != after["id"] for d in tab1.named("NewMessage"))
    finally:
        for c in (tab1, tab2, watcher):
            await c.close()


async def test_membership_changes_over_http_reach_sockets(server, user_factory) -> None:
    owner, member, other = (
        await user_factory("owner"),
        await user_factory("member"),
        await user_factory("other"),
    )
    room = await owner.create_room("closed", "closed", [other.id])
    client = await Client(server.url).connect(auth={"token": member.token})
    watcher = await Client(server.url).connect(auth={"token": other.token})
    try:
        await client.synced()
        await watcher.synced()
        await owner.call(
            "POST", f"/api/rooms/{room['id']}/members", {"user_id": member.id}, expect=201
        )
        joined = await client.wait_for("RoomJoined")
        assert joined["room"]["id"] == room["id"] and member.id in joined["room"]["member_ids"]
        await owner.call(
            "POST", f"/api/rooms/{room['id']}/members", {"user_id": member.id}, expect=200
        )
        first = await owner.send(room["id"], "hello member")
        await client.wait_for("NewMessage", lambda d: d["message"]["id"] == first["id"])

        await owner.call("PATCH", f"/api/rooms/{room['id']}", {"name": "renamed"}, expect=200)
        for c in (client, watcher):
            await c.wait_for("RoomUpdated", lambda d: d["room"]["name"] == "renamed")

        # Removal: RoomLeft at once, and nothing of the room after it.
        await owner.call("DELETE", f"/api/rooms/{room['id']}/members/{member.id}", expect=204)
        assert await client.wait_for("RoomLeft") == {"room_id": room["id"]}
        mark = len(client.events)
        later = await owner.send(room["id"], "not for you")
        await watcher.wait_for("NewMessage", lambda d: d["message"]["id"] == later["id"])
        await watcher.call("TypingStart", {"room_id": room["id"]})
        await owner.call("PATCH", f"/api/rooms/{room['id']}", {"name": "again"}, expect=200)
        await watcher.wait_for("RoomUpdated", lambda d: d["room"]["name"] == "again")
        assert (await client.call("Ping"))["type"] == "Pong"
        leaked = [
            (n, d)
            for n, d in client.events[mark:]
            if isinstance(d, dict) and d.get("room_id") == room["id"]
        ]
        leaked += [(n, d) for n, d in client.events[mark:] if n == "RoomUpdated"]
        assert leaked == []
        # The removed member is refused like any non-member.
        ack = await client.call(
            "NewMessage", {"room_id": room["id"], "content": "x", "client_message_id": owner.id}
        )
        assert ack["data"]["code"] == "room_access_denied"
    finally:
        await client.close()
        await watcher.close()


async def test_a_socket_subscribes_only_to_its_most_recently_active_rooms(
    make_server, http
) -> None:
    server = make_server(CAMPFIRE_MAX_ROOMS_PER_CONNECTION="2")
    admin = await login(http, server.url, ADMIN_EMAIL)
    rooms = [await admin.create_room(f"r{i}", "closed") for i in range(3)]
    # Activity order: r1 newest, then r2, then r0.
    await admin.send(rooms[0]["id"], "oldest")
    await admin.send(rooms[2]["id"], "middle")
    await admin.send(rooms[1]["id"], "newest")
    client = await Client(server.url).connect(auth={"token": admin.token})
    try:
        sync = await client.synced()
        assert [r["room_id"] for r in sync["rooms"]] == [rooms[1]["id"], rooms[2]["id"]]
        success = client.named("AuthSuccess")[0]
        assert len(success["rooms"]) == 3  # membership is complete; subscriptions are capped
        quiet = await admin.send(rooms[0]["id"], "not subscribed")
        loud = await admin.send(rooms[1]["id"], "subscribed")
        await client.wait_for("NewMessage", lambda d: d["message"]["id"] == loud["id"])
        assert all(d["message"]["id"] != quiet["id"] for d in client.named("NewMessage"))
        # Asking for the third room explicitly swaps out the least recently subscribed one.
        assert (await client.call("JoinRoom", {"room_id": rooms[0]["id"]}))["type"] == "RoomJoined"
        now = await admin.send(rooms[0]["id"], "now subscribed")
        await client.wait_for("NewMessage", lambda d: d["message"]["id"] == now["id"])
    finally:
        await client.close()
