"""Presence with several tabs, heartbeats, and typing with its expiry and implicit stops."""

from __future__ import annotations

import asyncio
import time

from tests.support import Client, new_id


async def test_presence_counts_users_not_tabs(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("p", "closed", [bob.id])
    watcher = await Client(server.url).connect(auth={"token": alice.token})
    await watcher.synced()
    assert watcher.named("PresenceUpdate")[0] == {"room_id": room["id"], "online_users": [alice.id]}

    tab1 = await Client(server.url).connect(auth={"token": bob.token})
    await watcher.wait_for("UserJoined", lambda d: d == {"user_id": bob.id, "room_id": room["id"]})
    await tab1.synced()
    mark = len(watcher.events)
    tab2 = await Client(server.url).connect(auth={"token": bob.token})
    await tab2.synced()
    ack = await watcher.call("GetPresence", {"room_id": room["id"]})
    assert ack["type"] == "PresenceUpdate"
    assert sorted(ack["data"]["online_users"]) == sorted([alice.id, bob.id])
    _, body = await alice.call("GET", f"/api/rooms/{room['id']}/presence", expect=200)
    assert sorted(body["online_users"]) == sorted([alice.id, bob.id])
    assert set(body["recently_active"]) >= {alice.id, bob.id}

    await tab1.close()
    # Closing one of two tabs is no UserLeft; a marker message proves the stream moved on.
    marker = await alice.send(room["id"], "marker")
    await watcher.wait_for("NewMessage", lambda d: d["message"]["id"] == marker["id"])
    await tab2.call("Ping")
    names = [n for n, _ in watcher.events[mark:]]
    assert "UserJoined" not in names and "UserLeft" not in names

    await tab2.close()
    await watcher.wait_for("UserLeft", lambda d: d == {"user_id": bob.id, "room_id": room["id"]})
    ack = await watcher.call("GetPresence", {"room_id": room["id"]})
    assert ack["data"]["online_users"] == [alice.id]
    assert len(watcher.named("UserJoined")) == 1
    await watcher.close()


async def test_get_presence_without_ack_answers_with_an_event(server, user_factory) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("p", "closed")
    client = await Client(server.url).connect(auth={"token": alice.token})
    try:
        await client.synced()
        mark = len(client.events)
        await client.sio.emit("GetPresence", {"room_id": room["id"]})
        update = await client.wait_for("PresenceUpdate", after=mark)
        assert update == {"room_id": room["id"], "online_users": [alice.id]}
        assert await client.call("Ping", {}) == {"type": "Pong", "data": {}}
    finally:
        await client.close()


async def test_typing_reaches_others_not_the_typist_and_expires(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("t", "closed", [bob.id])
    typist = await Client(server.url).connect(auth={"token": alice.token})
    typist_tab = await Client(server.url).connect(auth={"token": alice.token})
    reader = await Client(server.url).connect(auth={"token": bob.token})
    try:
        for c in (typist, typist_tab, reader):
            await c.synced()
        started = time.monotonic()
        assert (await typist.call("TypingStart", {"room_id": room["id"]}))["type"] == "Ok"
        expected = {"user_id": alice.id, "room_id": room["id"]}
        assert await reader.wait_for("TypingStart") == expected
        stop = await reader.wait_for("TypingStop", timeout=10)
        elapsed = time.monotonic() - started
        assert stop == expected
        assert 5 <= elapsed <= 7.5, elapsed
        assert not typist.named("TypingStart") and not typist_tab.named("TypingStart")
        assert not typist.named("TypingStop") and not typist_tab.named("TypingStop")
    finally:
        for c in (typist, typist_tab, reader):
            await c.close()


async def test_refreshed_typing_lasts_and_explicit_stops(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("t", "closed", [bob.id])
    typist = await Client(server.url).connect(auth={"token": alice.token})
    reader = await Client(server.url).connect(auth={"token": bob.token})
    try:
        await typist.synced()
        await reader.synced()
        await typist.call("TypingStart", {"room_id": room["id"]})
        await reader.wait_for("TypingStart")
        # A refresh is not a second TypingStart for the others.
        await typist.call("TypingStart", {"room_id": room["id"]})
        await typist.call("TypingStop", {"room_id": room["id"]})
        await reader.wait_for("TypingStop")
        assert len(reader.named("TypingStart")) == 1

        # Sending a message ends typing.
        await typist.call("TypingStart", {"room_id": room["id"]})
        await typist.call(
            "NewMessage", {"room_id": room["id"], "content": "done", "client_message_id": new_id()}
        )
        await reader.wait_for("NewMessage", lambda d: d["message"]["content"] == "done")
        assert len(reader.named("TypingStop")) == 2

        # The last connection closing ends typing.
        await typist.call("TypingStart", {"room_id": room["id"]})
        await typist.close()
        await reader.wait_for("UserLeft")
        assert len(reader.named("TypingStop")) == 3
    finally:
        await typist.close()
        await reader.close()


async def test_leaving_the_room_ends_typing(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("t", "open", [bob.id])
    typist = await Client(server.url).connect(auth={"token": bob.token})
    reader = await Client(server.url).connect(auth={"token": alice.token})
    try:
        await typist.synced()
        await reader.synced()
        await typist.call("TypingStart", {"room_id": room["id"]})
        await reader.wait_for("TypingStart")
        assert (await typist.call("LeaveRoom", {"room_id": room["id"]}))["type"] == "RoomLeft"
        assert await reader.wait_for("TypingStop") == {"user_id": bob.id, "room_id": room["id"]}
    finally:
        await typist.close()
        await reader.close()


async def test_stale_connections_are_cleaned_up(make_server, http) -> None:
    """A connection that stops refreshing its heartbeat is dropped by the sweep."""
    from tests.support import ADMIN_EMAIL, login

    server = make_server(
        CAMPFIRE_HEARTBEAT_SECONDS="60",
        CAMPFIRE_PRESENCE_STALE_SECONDS="1",
        CAMPFIRE_PRESENCE_SWEEP_SECONDS="0.5",
    )
    admin = await login(http, server.url, ADMIN_EMAIL)
    bob_user = await admin.create_user("bob")
    bob = await login(http, server.url, bob_user["email_address"])
    room = await admin.create_room("s", "closed", [bob.id])
    watcher = await Client(server.url).connect(auth={"token": admin.token})
    idle = await Client(server.url).connect(auth={"token": bob.token})
    await idle.synced()
    await watcher.wait_for("UserJoined", lambda d: d["user_id"] == bob.id)

    async def keep_alive() -> None:
        # The watcher refreshes its heartbeat with Ping (a cadence, not synchronisation).
        while True:
            await watcher.call("Ping")
            await asyncio.sleep(0.2)

    pinger = asyncio.create_task(keep_alive())
    try:
        # Bob's socket goes quiet: nothing refreshes its heartbeat, so the sweep removes it
        # (announcing UserLeft) and closes the socket so that a live client reconnects.
        left = await watcher.wait_for("UserLeft", lambda d: d["user_id"] == bob.id)
        assert left == {"user_id": bob.id, "room_id": room["id"]}
        await asyncio.wait_for(idle.disconnected.wait(), 10)
        assert not watcher.disconnected.is_set()
    finally:
        pinger.cancel()
        await watcher.close()
