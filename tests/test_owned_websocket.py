"""A fresh websocket taken over from aiohttp (app/realtime/engineio_seam/owned.py).

Raw TCP clients speak RFC 6455 byte by byte, so that each rule of the server's own frame
parser is seen from the wire: fragmented messages, ping answered with pong, the close
handshake, a connection that breaks without a close frame, a message over max_payload, an
unmasked client frame, and the shutdown's close frames. Whether the request machinery is
freed is counted from the debug task dump (app/debug_tasks.py: live objects by type).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.debug_tasks import CONNECTION_TYPES
from tests.support import ADMIN_EMAIL, WAIT, Client, ServerProcess, login
from tests.test_engineio_sockets import dump

pytestmark = pytest.mark.timeout(600)

MAX_PAYLOAD = 4096
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class RawWebSocket:
    """A websocket client written out by hand: every frame as the test says."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, query: str = "EIO=4&transport=websocket") -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /socket.io/?{query} HTTP/1.1\r\nHost: campfire\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}"
            "\r\n\r\n".encode()
        )
        async with asyncio.timeout(WAIT):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True
    ) -> None:
        first = (0x80 if fin else 0) | opcode
        size = len(payload)
        mask_bit = 0x80 if masked else 0
        if size < 126:
            header = struct.pack("!BB", first, mask_bit | size)
        elif size < 65536:
            header = struct.pack("!BBH", first, mask_bit | 126, size)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, size)
        if masked:
            mask = os.urandom(4)
            body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            self.writer.write(header + mask + body)
        else:
            self.writer.write(header + payload)

    def send_text(self, text: str) -> None:
        self.send_frame(TEXT, text.encode())

    async def frame(self) -> tuple[int, bytes]:
        """The next frame from the server (opcode, payload); (-1, b"") at the end."""
        async with asyncio.timeout(WAIT):
            try:
                first, second = await self.reader.readexactly(2)
            except asyncio.IncompleteReadError:
                return -1, b""
            assert not second & 0x80, "a server frame must not be masked"
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(size)

    async def text_until(self, predicate: Callable[[str], bool]) -> str:
        while True:
            opcode, payload = await self.frame()
            assert opcode != -1, "the connection ended"
            if opcode == TEXT and predicate(payload.decode()):
                return payload.decode()

    async def ended(self) -> list[tuple[int, bytes]]:
        """Every frame until the server closes the TCP connection."""
        frames = []
        while (found := await self.frame())[0] != -1:
            frames.append(found)
        return frames

    async def connect(self, token: str) -> None:
        opened = await self.text_until(lambda t: t.startswith("0"))
        assert json.loads(opened[1:])["maxPayload"] == MAX_PAYLOAD
        self.send_text("40" + json.dumps({"token": token}))
        await self.text_until(lambda t: "SyncComplete" in t)

    def close(self) -> None:
        self.writer.close()


def close_code(frames: list[tuple[int, bytes]]) -> int | None:
    closes = [payload for opcode, payload in frames if opcode == CLOSE]
    return struct.unpack("!H", closes[0][:2])[0] if closes else None


@pytest.fixture
async def owned(
    make_server: Callable[..., ServerProcess], tmp_path: Path
) -> AsyncIterator[tuple[ServerProcess, Path, str]]:
    target = tmp_path / "tasks-{pid}.json"
    server = make_server(
        CAMPFIRE_DEBUG_TASK_DUMP=str(target),
        CAMPFIRE_ENGINE_FAST_PATH="1",  # the takeover is the fast path's
        CAMPFIRE_WEBSOCKET_COMPRESSION="0",
        CAMPFIRE_MAX_HTTP_BUFFER_SIZE=str(MAX_PAYLOAD),
        CAMPFIRE_PING_INTERVAL="600",
        CAMPFIRE_PING_TIMEOUT="600",
    )
    async with aiohttp.ClientSession() as http:
        admin = await login(http, server.url, ADMIN_EMAIL)
        yield server, target, admin.token


async def live_sessions(
    server: ServerProcess, target: Path, expected: int, sockets: int | None = None
) -> dict[str, Any]:
    """A dump once the server holds `expected` sessions and `sockets` Engine.IO sockets
    (default: as many), as its end of a close may lag ours."""
    sockets = expected if sockets is None else sockets
    found = await dump(server, target)
    async with asyncio.timeout(6 * WAIT):
        while found["state"]["gateway.live"] != expected or (
            found["state"]["eio.sockets"] != sockets
        ):
            await asyncio.sleep(0.2)  # between dumps of another process: no event to wait on
            found = await dump(server, target)
    return found


async def test_the_frame_rules_of_a_taken_over_connection(owned) -> None:
    server, target, token = owned
    ws = await RawWebSocket.open(server.port)
    await ws.connect(token)
    objects = (await live_sessions(server, target, 1))["connection_objects"]
    assert objects["WebSocketConnection"] == 1, objects  # it was taken over

    # A ping, even between the fragments of a message, is answered with its payload.
    ws.send_frame(PING, b"are you there")
    assert await ws.frame() == (PONG, b"are you there")

    # A message in three fragments with a ping among them: one Socket.IO event with an ack.
    event = b'421["Ping",{}]'
    ws.send_frame(TEXT, event[:4], fin=False)
    ws.send_frame(CONTINUATION, event[4:9], fin=False)
    ws.send_frame(PING, b"mid")
    ws.send_frame(CONTINUATION, event[9:], fin=True)
    assert await ws.frame() == (PONG, b"mid")
    answer = await ws.text_until(lambda t: t.startswith("431"))
    assert json.loads(answer[3:])[0]["type"] == "Pong", answer

    # A binary event whose attachment comes in a later read (the pong proves the event was
    # read first): its handler still knows that an ack was asked for (a context variable set
    # while decoding the event), and answers in the ack, not in an `Error` event.
    ws.send_text('451-7["Ping",{"_placeholder":true,"num":0}]')
    ws.send_frame(PING, b"between")
    assert await ws.frame() == (PONG, b"between")
    ws.send_frame(BINARY, b"\x00attachment")
    answer = await ws.text_until(lambda t: t.startswith(("437", '42["Error"')))
    assert answer.startswith("437"), answer
    assert json.loads(answer[3:])[0]["data"]["code"] == "invalid_message_format", answer

    # The client's close frame is answered with a close frame, and the connection ends.
    ws.send_frame(CLOSE, struct.pack("!H", 1000) + b"bye")
    assert close_code(await ws.ended()) == 1000
    ws.close()
    await live_sessions(server, target, 0)


async def test_protocol_errors_close_the_connection(owned) -> None:
    server, target, token = owned
    # An unmasked client frame: 1002.
    ws = await RawWebSocket.open(server.port)
    await ws.connect(token)
    ws.send_frame(TEXT, b'42["Ping",{}]', masked=False)
    assert close_code(await ws.ended()) == 1002
    ws.close()
    # A message over max_payload (in fragments, each under it): 1009, before it is whole.
    ws = await RawWebSocket.open(server.port)
    await ws.connect(token)
    ws.send_frame(TEXT, b"4" * (MAX_PAYLOAD // 2), fin=False)
    ws.send_frame(CONTINUATION, b"2" * (MAX_PAYLOAD // 2 + 10), fin=False)
    assert close_code(await ws.ended()) == 1009
    ws.close()
    # A continuation with no message to continue: 1002.
    ws = await RawWebSocket.open(server.port)
    await ws.connect(token)
    ws.send_frame(CONTINUATION, b"x")
    assert close_code(await ws.ended()) == 1002
    ws.close()
    # Text that is not UTF-8: 1007.
    ws = await RawWebSocket.open(server.port)
    await ws.connect(token)
    ws.send_frame(TEXT, b"42\xff\xfe")
    assert close_code(await ws.ended()) == 1007
    ws.close()
    await live_sessions(server, target, 0)


async def test_a_broken_connection_frees_its_socket_and_aiohttp_keeps_nothing(owned) -> None:
    server, target, token = owned
    before = (await live_sessions(server, target, 0))["connection_objects"]
    rounds = 20
    for i in range(rounds):
        ws = await RawWebSocket.open(server.port)
        await ws.connect(token)
        if i % 2:
            ws.writer.transport.abort()  # the network goes: no close frame
        else:
            ws.send_frame(CLOSE, struct.pack("!H", 1000))
            assert close_code(await ws.ended()) == 1000
            ws.close()
    after = (await live_sessions(server, target, 0))["connection_objects"]
    # (Not DirectSocket: python-engineio's sweep holds a copy of its socket table for a
    # while, ping_timeout / len(sockets) per socket.)
    for name in (n for n in CONNECTION_TYPES if n != "DirectSocket"):
        assert after[name] <= before[name], (name, before, after)

    # While connections are open, aiohttp holds none of their requests.
    clients = [await RawWebSocket.open(server.port) for _ in range(5)]
    for ws in clients:
        await ws.connect(token)
    during = (await live_sessions(server, target, 5))["connection_objects"]
    assert during["WebSocketConnection"] == before["WebSocketConnection"] + 5, during
    for name in ("RequestHandler", "OwnedWebSocketResponse", "Request"):
        assert during[name] <= before[name], (name, before, during)
    for ws in clients:
        ws.writer.transport.abort()


async def test_shutdown_sends_close_frames(owned) -> None:
    server, target, token = owned
    clients = [await RawWebSocket.open(server.port) for _ in range(3)]
    for ws in clients:
        await ws.connect(token)
    # A client that connected over Engine.IO but not yet Socket.IO is closed as well.
    bare = await RawWebSocket.open(server.port)
    await bare.text_until(lambda t: t.startswith("0"))
    await live_sessions(server, target, 3, sockets=4)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    for ws in [*clients, bare]:
        frames = await ws.ended()
        assert close_code(frames) == 1001, frames
        ws.close()
    assert await asyncio.to_thread(server.process.wait, 10) == 0
    server.process = None


async def test_a_python_socketio_client_still_works(owned) -> None:
    server, target, token = owned
    client = await Client(server.url).connect(auth={"token": token})
    await client.synced()
    answer = await client.call("Ping", {})
    assert answer is not None
    objects = (await live_sessions(server, target, 1))["connection_objects"]
    assert objects["WebSocketConnection"] >= 1, objects
    await client.close()
    await live_sessions(server, target, 0)
