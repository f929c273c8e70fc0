"""The front door (app/realtime/engineio_seam/front_door.py): fresh Engine.IO websockets are
upgraded before aiohttp sees them, everything else reaches aiohttp unchanged. Raw TCP
clients against a real `campfire serve`; which of the two answered shows in the 101 itself
(aiohttp's names itself in a `Server` header, the front door's does not)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from app.realtime.engineio_seam.front_door import FrontDoorResponse, parse_upgrade
from tests.support import ADMIN_EMAIL, WAIT, ServerProcess, login
from tests.test_owned_websocket import MAX_PAYLOAD, PONG, RawWebSocket

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's example
UPGRADE = (
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: campfire\r\n"
    "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\n\r\n"
)

SETTINGS = {
    "CAMPFIRE_ENGINE_FAST_PATH": "1",
    "CAMPFIRE_PING_INTERVAL": "600",
    "CAMPFIRE_MAX_HTTP_BUFFER_SIZE": str(MAX_PAYLOAD),  # what RawWebSocket.connect expects
}


@pytest.fixture
async def servers(
    make_server: Callable[..., ServerProcess],
) -> AsyncIterator[tuple[ServerProcess, ServerProcess, dict[int, str]]]:
    """The same server with the front door (the default) and without it; an admin token
    for each, by port."""
    door = make_server(**SETTINGS)
    plain = make_server(**SETTINGS, CAMPFIRE_FRONT_DOOR="0")
    async with aiohttp.ClientSession() as http:
        tokens = {s.port: (await login(http, s.url, ADMIN_EMAIL)).token for s in (door, plain)}
    yield door, plain, tokens


async def handshake(port: int, chunks: list[bytes]) -> tuple[bytes, RawWebSocket]:
    """Send the request in `chunks` (each written and drained on its own); the answer's
    head and the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
    async with asyncio.timeout(WAIT):
        head = await reader.readuntil(b"\r\n\r\n")
    return head, RawWebSocket(reader, writer)


def header_names(head: bytes) -> set[str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {line.partition(":")[0].lower() for line in lines if line}


async def test_a_fresh_websocket_is_upgraded_by_the_front_door(servers) -> None:
    door, plain, tokens = servers
    for server, by_aiohttp in ((door, False), (plain, True)):
        head, ws = await handshake(server.port, [UPGRADE.encode()])
        assert head.startswith(b"HTTP/1.1 101"), head
        assert ("server" in header_names(head)) is by_aiohttp, head
        # RFC 6455 section 1.3's answer to its example key, from either.
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head, head
        await ws.connect(tokens[server.port])
        ws.close()


async def test_a_request_in_pieces_and_frames_sent_with_it(servers) -> None:
    door, _, tokens = servers
    token = tokens[door.port]
    request = UPGRADE.encode()
    # Split inside the prefix, inside a header and right before the blank line.
    head, ws = await handshake(door.port, [request[:7], request[7:60], request[60:-2], b"\r\n"])
    assert head.startswith(b"HTTP/1.1 101") and "server" not in header_names(head), head
    await ws.connect(token)
    ws.close()

    # The request and the client's first frame in one write: the frame waits for the socket.
    reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
    early = RawWebSocket(reader, writer)
    mask = os.urandom(4)
    payload = ("40" + json.dumps({"token": token})).encode()
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    writer.write(request + bytes([0x81, 0x80 | len(payload)]) + mask + body)
    async with asyncio.timeout(WAIT):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    await early.text_until(lambda t: t.startswith("0"))
    await early.text_until(lambda t: "SyncComplete" in t)
    early.close()


async def test_a_ping_sent_with_the_request_is_answered_after_the_101(servers) -> None:
    door, _, _ = servers
    reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
    ws = RawWebSocket(reader, writer)
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(b"early"))
    writer.write(UPGRADE.encode() + bytes([0x89, 0x80 | 5]) + mask + body)
    async with asyncio.timeout(WAIT):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    frames = [await ws.frame(), await ws.frame()]
    assert (PONG, b"early") in frames, frames
    assert any(op == 0x1 and payload.startswith(b"0{") for op, payload in frames), frames
    ws.close()


async def test_everything_else_is_aiohttps(servers) -> None:
    door, _, tokens = servers
    token = tokens[door.port]
    async with aiohttp.ClientSession() as http:
        # Plain HTTP and long-polling, on fresh connections and on a kept-alive one.
        for _ in range(2):
            async with http.get(f"{door.url}/healthz") as response:
                assert response.status == 200
        async with http.get(f"{door.url}/socket.io/?EIO=4&transport=polling") as response:
            assert response.status == 200
            opened = await response.text()
        assert opened.startswith("0") and "sid" in json.loads(opened[1:])
        # socket.io's own client path: polling first, then the upgrade (it has a sid).
        ws = await http.ws_connect(
            f"{door.url}/socket.io/?EIO=4&transport=websocket&sid={json.loads(opened[1:])['sid']}"
        )
        await ws.close()
    # A broken handshake gets aiohttp's 400, not a 101.
    bad = UPGRADE.replace(KEY, "not-a-key").encode()
    head, ws = await handshake(door.port, [bad])
    assert head.startswith(b"HTTP/1.1 400"), head
    ws.close()
    # A version python-engineio does not speak: its 400, through the front door's reading.
    old = UPGRADE.replace("EIO=4", "EIO=3").encode()
    head, ws = await handshake(door.port, [old])
    assert head.startswith(b"HTTP/1.1 400"), head
    ws.close()
    # And the server still upgrades the next one.
    head, ws = await handshake(door.port, [UPGRADE.encode()])
    assert head.startswith(b"HTTP/1.1 101"), head
    await ws.connect(token)
    ws.close()


def test_only_a_plain_fresh_upgrade_is_read_by_the_front_door() -> None:
    def head(text: str) -> bytes:
        return text.encode("latin-1").split(b"\r\n\r\n")[0]

    assert parse_upgrade(head(UPGRADE)) is not None
    refused = {
        "post": UPGRADE.replace("GET ", "POST "),
        "http/1.0": UPGRADE.replace("HTTP/1.1\r\n", "HTTP/1.0\r\n", 1),
        "polling": UPGRADE.replace("transport=websocket", "transport=polling"),
        "sid": UPGRADE.replace("EIO=4", "EIO=4&sid=abc"),
        "jsonp": UPGRADE.replace("EIO=4", "EIO=4&j=1"),
        "version": UPGRADE.replace("Version: 13", "Version: 8"),
        "no upgrade": UPGRADE.replace("Upgrade: websocket\r\n", ""),
        "connection": UPGRADE.replace("keep-alive, Upgrade", "keep-alive"),
        "short key": UPGRADE.replace(KEY, base64.b64encode(b"short").decode()),
        "two keys": UPGRADE.replace("\r\n\r\n", f"\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"),
        "a body": UPGRADE.replace("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n"),
        "folded": UPGRADE.replace("Host: campfire\r\n", "Host: campfire\r\n  folded\r\n"),
        "control": UPGRADE.replace("Host: campfire", "Host: camp\x00fire"),
        "name": UPGRADE.replace("Host:", "Ho st:"),
    }
    for why, text in refused.items():
        assert parse_upgrade(head(text)) is None, why


def test_a_refusal_is_a_complete_http_answer() -> None:
    answer = FrontDoorResponse("401 UNAUTHORIZED", [("Content-Type", "text/plain")], b"no")
    assert answer.encode() == (
        b"HTTP/1.1 401 UNAUTHORIZED\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nno"
    )
