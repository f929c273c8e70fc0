"""A slow consumer's goodbye goes out ahead of the backlog it never read (issue 15: it sat
behind up to CAMPFIRE_MAX_OUTGOING_BYTES of unsent data and was thrown away with it)."""

from __future__ import annotations

import asyncio
import socket

import aiohttp

from tests.support import ADMIN_EMAIL, Client, login, metric, new_id, wait_for_metric

LIMIT = 3_000_000  # CAMPFIRE_MAX_OUTGOING_BYTES of the server under test


def _small_receive_buffer(addr_info: tuple) -> socket.socket:
    # The laggard's kernel holds little, so what reaches it before the goodbye is what the
    # server still had queued for it (plus the server's own socket buffer).
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    return sock


async def test_a_slow_consumer_gets_its_goodbye_ahead_of_its_backlog(make_server, http) -> None:
    server = make_server(
        # The stock path counts its backlog in packets (9 KB each here), the fast path in bytes.
        CAMPFIRE_MAX_OUTGOING_PACKETS="60",
        CAMPFIRE_MAX_OUTGOING_BYTES=str(LIMIT),
    )
    admin = await login(http, server.url, ADMIN_EMAIL)
    room = await admin.create_room("firehose", "open")
    connector = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as laggard_http:
        ws = await laggard_http.ws_connect(
            f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
            f"&token={admin.token}",
            max_msg_size=0,
        )
        assert (await ws.receive_str()).startswith("0")
        await ws.send_str("40")
        assert (await ws.receive_str()).startswith("40")
        # From here on the laggard reads nothing until it has been dropped.
        sender = await Client(server.url).connect(auth={"token": admin.token})
        await sender.synced()
        big = "x" * 9_000
        for _ in range(200):  # bounded: a few dozen batches exceed the limit
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
            if await metric(http, server.url, "campfire_slow_consumer_disconnects_total") >= 1:
                break
        await wait_for_metric(http, server.url, "campfire_slow_consumer_disconnects_total", 1.0)

        received_before_goodbye = 0
        goodbye = False

        async def read() -> None:
            nonlocal received_before_goodbye, goodbye
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT and "slow_consumer" in frame.data:
                    goodbye = True
                    return
                received_before_goodbye += len(frame.data)

        await asyncio.wait_for(read(), 30)
        assert goodbye
        # Only what had already left the server's backlog for the kernel came before the
        # goodbye (at most CAMPFIRE_SOCKET_SEND_BUFFER, doubled by Linux, and a little more):
        # not the backlog (up to LIMIT on the fast path), nor 4 MB of kernel buffer.
        assert received_before_goodbye < LIMIT, received_before_goodbye
        await ws.close()
    assert (await sender.call("Ping"))["type"] == "Pong"
    await sender.close()
