"""Failure behaviour: slow consumers, SIGTERM, and kill -9 with acknowledged messages."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp

from tests.support import ADMIN_EMAIL, Client, login, metric, new_id, wait_for_metric


async def test_slow_consumer_is_disconnected_and_others_are_unharmed(make_server, http) -> None:
    server = make_server(CAMPFIRE_MAX_OUTGOING_PACKETS="20", CAMPFIRE_MAX_OUTGOING_BYTES="200000")
    admin = await login(http, server.url, ADMIN_EMAIL)
    stuck_user = await login(http, server.url, (await admin.create_user("stuck"))["email_address"])
    room = await admin.create_room("firehose", "open")
    await stuck_user.call(
        "POST", f"/api/rooms/{room['id']}/members", {"user_id": stuck_user.id}, expect=201
    )

    # A raw websocket that completes the handshake and then never reads again.
    ws = await http.ws_connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket&token={stuck_user.token}"
    )
    assert (await ws.receive_str()).startswith("0")  # Engine.IO open
    await ws.send_str("40")  # Socket.IO connect (token is in the query)
    assert (await ws.receive_str()).startswith("40")

    sender = await Client(server.url).connect(auth={"token": admin.token})
    await sender.synced()
    big = "x" * 9_000
    sent = 0
    for _ in range(150):  # bounded: normally a few dozen batches fill the socket buffers
        acks = await asyncio.gather(
            *(
                sender.call(
                    "NewMessage",
                    {"room_id": room["id"], "content": big, "client_message_id": new_id()},
                )
                for _ in range(20)
            )
        )
        assert all(ack["type"] == "MessageDelivered" for ack in acks)
        sent += len(acks)
        if await metric(http, server.url, "campfire_slow_consumer_disconnects_total") >= 1:
            break
    await wait_for_metric(http, server.url, "campfire_slow_consumer_disconnects_total", 1.0)

    # Reading now, the laggard finds the goodbye after what its buffers held, then the end.
    saw_goodbye = False

    async def drain() -> None:
        nonlocal saw_goodbye
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT and "slow_consumer" in frame.data:
                saw_goodbye = True

    await asyncio.wait_for(drain(), 15)
    assert saw_goodbye
    assert ws.closed

    # The sender was never affected and the server still serves.
    ack = await sender.call(
        "NewMessage", {"room_id": room["id"], "content": "after", "client_message_id": new_id()}
    )
    assert ack["data"]["seq"] == sent + 1
    history = await admin.history(room["id"], after_seq=sent - 1)
    assert [m["content"] for m in history][-1] == "after"
    await sender.close()


async def test_a_client_that_stops_answering_pings_is_dropped(make_server, http) -> None:
    server = make_server(CAMPFIRE_PING_INTERVAL="1", CAMPFIRE_PING_TIMEOUT="1")
    admin = await login(http, server.url, ADMIN_EMAIL)
    healthy = await Client(server.url).connect(auth={"token": admin.token})
    await healthy.synced()

    # A raw websocket that authenticates, then never answers the server's pings.
    ws = await http.ws_connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket&token={admin.token}"
    )
    opened = await ws.receive_str()
    assert opened.startswith("0") and '"pingInterval":1000' in opened
    await ws.send_str("40")
    await wait_for_metric(http, server.url, "campfire_active_connections", 2.0)

    pings = 0

    async def read_until_closed() -> None:
        nonlocal pings
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT and frame.data == "2":
                pings += 1

    await asyncio.wait_for(read_until_closed(), 15)
    assert pings >= 1 and ws.closed
    await wait_for_metric(http, server.url, "campfire_active_connections", 1.0)

    # The client that answers its pings (python-socketio does) was kept throughout.
    assert not healthy.disconnected.is_set()
    assert (await healthy.call("Ping"))["type"] == "Pong"
    await healthy.close()


async def test_sigterm_says_goodbye_and_exits_cleanly(make_server, http) -> None:
    server = make_server()
    admin = await login(http, server.url, ADMIN_EMAIL)
    room = await admin.create_room("bye", "open")
    clients = [await Client(server.url).connect(auth={"token": admin.token}) for _ in range(3)]
    for c in clients:
        await c.synced()
    ack = await clients[0].call(
        "NewMessage",
        {"room_id": room["id"], "content": "last words", "client_message_id": new_id()},
    )
    assert ack["type"] == "MessageDelivered"
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for c in clients:
        assert await c.wait_for("Disconnect") == {"reason": "server_shutdown"}
    code = await asyncio.to_thread(server.process.wait, 10)
    assert code == 0 and time.monotonic() - started < 10
    server.process = None
    server.start()
    again = await login(http, server.url, ADMIN_EMAIL)
    assert [m["content"] for m in await again.history(room["id"])] == ["last words"]


async def test_acknowledged_messages_survive_kill_9(make_server, http) -> None:
    server = make_server()
    admin = await login(http, server.url, ADMIN_EMAIL)
    users = [
        await login(http, server.url, (await admin.create_user(f"w{i}"))["email_address"])
        for i in range(4)
    ]
    room = await admin.create_room("durable", "open")
    for u in users:
        await u.call("POST", f"/api/rooms/{room['id']}/members", {"user_id": u.id}, expect=201)
    clients = [await Client(server.url).connect(auth={"token": u.token}) for u in users]
    for c in clients:
        await c.synced()
    acked: dict[str, int] = {}

    async def write(client: Client, n: int) -> None:
        for _ in range(n):
            cmid = new_id()
            ack = await client.call(
                "NewMessage", {"room_id": room["id"], "content": cmid, "client_message_id": cmid}
            )
            acked[cmid] = ack["data"]["seq"]

    writers = [asyncio.create_task(write(c, 60)) for c in clients]
    await wait_until_count(acked, 200)
    server.kill()  # SIGKILL while writers are still sending
    await asyncio.gather(*writers, return_exceptions=True)
    for c in clients:
        await c.close()
    assert len(acked) >= 200

    server.start()
    again = await login(http, server.url, ADMIN_EMAIL)
    stored: list[dict] = []
    after = 0
    while True:
        page = await again.history(room["id"], after_seq=after, limit=200)
        if not page:
            break
        stored += page
        after = page[-1]["seq"]
    by_cmid = {m["client_message_id"]: m["seq"] for m in stored}
    for cmid, seq in acked.items():
        assert by_cmid.get(cmid) == seq
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))


async def wait_until_count(acked: dict[str, int], n: int) -> None:
    deadline = time.monotonic() + 60
    while len(acked) < n:
        assert time.monotonic() < deadline, len(acked)
        await asyncio.sleep(0.005)
