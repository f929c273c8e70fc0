"""The guide's two integration tests, over real sockets against a live server."""

from __future__ import annotations

from tests.support import Client, new_id


async def test_two_clients_exchange_a_message(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("chat", "closed", [bob.id])
    a = await Client(server.url).connect(auth={"token": alice.token})
    b = await Client(server.url).connect(auth={"token": bob.token})
    try:
        await a.synced()
        await b.synced()
        cmid = new_id()
        ack = await a.call(
            "NewMessage",
            {"room_id": room["id"], "content": "Hello from user 1", "client_message_id": cmid},
        )
        assert ack["type"] == "MessageDelivered"
        assert ack["data"]["client_message_id"] == cmid and ack["data"]["seq"] == 1
        got = await b.wait_for("NewMessage", lambda d: d["message"]["client_message_id"] == cmid)
        assert got["message"]["content"] == "Hello from user 1"
        assert got["message"]["creator_id"] == alice.id
        assert got["room_id"] == room["id"]
    finally:
        await a.close()
        await b.close()


async def test_reconnect_gets_exactly_the_missed_messages(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("chat", "closed", [bob.id])
    await alice.send(room["id"], "before")
    client = await Client(server.url).connect(auth={"token": bob.token})
    sync = await client.synced()
    last_seq = {r["room_id"]: r["last_seq"] for r in sync["rooms"]}[room["id"]]
    assert last_seq == 1
    await client.close()

    await alice.send(room["id"], "Message 1")
    await alice.send(room["id"], "Message 2")

    again = await Client(server.url).connect(
        auth={"token": bob.token, "last_seen": {room["id"]: last_seq}}
    )
    try:
        sync = await again.synced()
        replayed = [d["message"]["content"] for d in again.named("NewMessage")]
        assert replayed == ["Message 1", "Message 2"]
        assert sync["missed_count"] == 2 and sync["truncated"] is False
        order = [name for name, _ in again.events]
        assert (
            order.index("AuthSuccess") < order.index("PresenceUpdate") < order.index("NewMessage")
        )
        assert order.index("NewMessage") < order.index("SyncComplete")
    finally:
        await again.close()
