"""A direct socket's session closed by a send that finds the pong overdue hangs up its
connection (engine.py, `DirectSocket.close`).

python-engineio checks the ping deadline before each send and closes the session when it has
passed. For a direct socket that happened before the timer wheel (0.25 s resolution) came to
it: the session closed, the wheel then found it closed and did nothing, and a client that did
not hang up kept its TCP connection. Here the same order of events, made deterministic: a real
Engine.IO server object, a real TCP connection over loopback, and the deadline already passed.
"""

from __future__ import annotations

import asyncio
import time

import engineio
from engineio import packet as eio_packet

from app.realtime.engineio_seam.engine import DirectSocket, FrameWriter, WriteCoalescer
from tests.support import WAIT


async def test_a_send_past_the_pong_deadline_closes_the_session_and_the_connection() -> None:
    accepted: asyncio.Future[asyncio.Transport] = asyncio.get_running_loop().create_future()

    class Peer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            accepted.set_result(transport)

    listener = await asyncio.get_running_loop().create_server(Peer, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    reader, client = await asyncio.open_connection("127.0.0.1", port)
    try:
        server = engineio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=1)
        socket = DirectSocket(server, "s1")
        server.sockets["s1"] = socket
        socket.connected = socket.upgraded = True
        socket.attach(FrameWriter(await accepted, WriteCoalescer()))

        socket.last_ping = time.time() - 10  # a ping went out and no pong came back
        await socket.send(eio_packet.Packet(eio_packet.MESSAGE, "2[]"))

        assert socket.closed
        async with asyncio.timeout(WAIT):
            rest = await reader.read()  # to the end: the server side closed the connection
        assert b"2[]" not in rest  # the late message was not sent to a client gone silent
    finally:
        client.close()
        listener.close()
        await listener.wait_closed()
