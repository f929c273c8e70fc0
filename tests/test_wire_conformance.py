"""Engine.IO v4 and Socket.IO v5 wire rules, checked on both of Campfire's paths.

Each test runs against the Socket.IO server as `create_server` builds it, once with the fast
path (CAMPFIRE_ENGINE_FAST_PATH=1) and once with python-socketio's stock code (=0), served on
127.0.0.1 by aiohttp in this process, and speaks the wire protocol itself over a raw
websocket or HTTP long-polling. Every rule the stock path keeps, the fast path must keep.
(The application's own events are covered by tests/test_realtime_*.py, which also run
on both paths: see the Makefile's `test` target.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from app.config import Settings
from app.realtime.engineio_seam import create_server, is_fast_path

MAX_PAYLOAD = 100_000
WAIT = 10.0


class Wire:
    """A server built like Campfire's, with a few events to exercise the protocol."""

    def __init__(self, fast: bool) -> None:
        self.settings = Settings(
            engine_fast_path=fast,
            ping_interval=1.0,
            ping_timeout=1.0,
            max_http_buffer_size=MAX_PAYLOAD,
        )
        self.sio = create_server(self.settings)
        assert is_fast_path(self.sio) == fast
        self.received: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        sio = self.sio

        @sio.on("connect")
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
            return auth != {"refuse": True}

        @sio.on("*")
        async def any_event(event: str, sid: str, *args: Any) -> Any:
            await self.received.put((event, args))
            if event == "echo":
                return tuple(args)  # a tuple is an ack with several arguments
            if event == "emit":
                name, data, how = args
                data = tuple(data) if how == "tuple" else data
                if how == "room":
                    await sio.enter_room(sid, "r")
                    await sio.emit(name, tuple(data), room="r")
                else:
                    await sio.emit(name, data, to=sid)
                return "done"
            if event == "emit_binary":
                try:
                    await sio.emit("bin", b"\x00\x01", to=sid)
                except TypeError as exc:
                    return {"refused": str(exc)}
                return {"refused": None}
            return None


@pytest.fixture(params=["fast", "stock"])
async def wire(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Wire, str]]:
    server = Wire(request.param == "fast")
    app = web.Application()
    server.sio.attach(app, socketio_path="socket.io")
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        yield server, f"http://127.0.0.1:{test_server.port}/socket.io/?EIO=4"
    finally:
        await test_server.close()


def _ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "&transport=websocket"


async def _text(ws: aiohttp.ClientWebSocketResponse, *, answer_pings: bool = True) -> str:
    """The next text frame that is not a ping (answered unless told otherwise) or a noop."""
    while True:
        frame = await ws.receive(timeout=WAIT)
        assert frame.type == WSMsgType.TEXT, frame
        if frame.data == "6":
            continue
        if frame.data == "2" and answer_pings:
            await ws.send_str("3")
            continue
        return frame.data


async def _closed(ws: aiohttp.ClientWebSocketResponse, *, answer_pings: bool = True) -> bool:
    """True once the server closes the websocket; pings on the way are answered (unless told
    otherwise), so that only the rule under test can close it."""
    return await asyncio.wait_for(_until_closed(ws, answer_pings), 2 * WAIT)


async def _until_closed(ws: aiohttp.ClientWebSocketResponse, answer_pings: bool) -> bool:
    while True:
        frame = await ws.receive(timeout=WAIT)
        if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
            return True
        if frame.type == WSMsgType.ERROR:
            return True
        if frame.type == WSMsgType.TEXT and frame.data == "2" and answer_pings:
            await ws.send_str("3")


async def _connected(http: aiohttp.ClientSession, base: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(_ws_url(base))
    assert (await _text(ws)).startswith("0")
    await ws.send_str("40")
    assert (await _text(ws)).startswith("40")
    return ws


# ---- Engine.IO v4 ---------------------------------------------------------------------------


async def test_websocket_handshake_fields(wire, http) -> None:
    _, base = wire
    async with http.ws_connect(_ws_url(base)) as ws:
        opened = await _text(ws)
        assert opened[0] == "0"
        handshake = json.loads(opened[1:])
        assert isinstance(handshake["sid"], str) and handshake["sid"]
        assert handshake["upgrades"] == []  # already on the best transport
        assert handshake["pingInterval"] == 1000 and handshake["pingTimeout"] == 1000
        assert handshake["maxPayload"] == MAX_PAYLOAD  # the configured size, not a constant


async def test_polling_handshake_offers_the_websocket_upgrade(wire, http) -> None:
    _, base = wire
    async with http.get(base + "&transport=polling") as response:
        assert response.status == 200
        body = await response.text()
    handshake = json.loads(body[1:])
    assert body[0] == "0" and handshake["upgrades"] == ["websocket"]
    assert handshake["maxPayload"] == MAX_PAYLOAD


async def test_pings_are_sent_and_a_missing_pong_closes_the_session(wire, http) -> None:
    _, base = wire
    async with http.ws_connect(_ws_url(base)) as ws:
        assert (await _text(ws)).startswith("0")
        await ws.send_str("40")
        assert (await _text(ws)).startswith("40")
        assert await _text(ws, answer_pings=False) == "2"  # the first ping
        await ws.send_str("3")
        assert await _text(ws, answer_pings=False) == "2"  # the next one follows the pong
        assert await _closed(ws, answer_pings=False)  # this one is never answered


async def test_an_invalid_engineio_packet_closes_the_websocket_at_once(wire, http) -> None:
    _, base = wire
    ws = await _connected(http, base)
    await ws.send_str("x-not-a-packet")
    assert await _closed(ws)


async def test_a_packet_over_max_payload_closes_the_websocket(wire, http) -> None:
    _, base = wire
    ws = await _connected(http, base)
    await ws.send_str('42["echo","' + "x" * MAX_PAYLOAD + '"]')
    assert await _closed(ws)


async def test_upgrade_from_polling(wire, http) -> None:
    server, base = wire
    async with http.get(base + "&transport=polling") as response:
        sid = json.loads((await response.text())[1:])["sid"]
    polling = f"{base}&transport=polling&sid={sid}"
    async with http.post(polling, data="40") as response:
        assert response.status == 200
    async with http.get(polling) as response:
        assert (await response.text()).startswith("40")
    async with http.ws_connect(f"{_ws_url(base)}&sid={sid}") as ws:
        await ws.send_str("2probe")
        assert await _text(ws) == "3probe"
        async with http.get(polling) as response:  # the pending poll ends with a noop
            assert await response.text() == "6"
        await ws.send_str("5")
        await ws.send_str('421["echo",{"over":"websocket"}]')
        assert await _text(ws) == '431[{"over":"websocket"}]'
        assert (await server.received.get()) == ("echo", ({"over": "websocket"},))


# ---- Socket.IO v5 ---------------------------------------------------------------------------


async def test_connect_and_refusal_on_the_default_namespace(wire, http) -> None:
    _, base = wire
    async with http.ws_connect(_ws_url(base)) as ws:
        assert (await _text(ws)).startswith("0")
        await ws.send_str('40{"refuse":true}')
        refused = await _text(ws)
        assert refused.startswith("44{") and "message" in json.loads(refused[2:])
        await ws.send_str("40{}")
        accepted = await _text(ws)
        assert accepted.startswith("40{") and json.loads(accepted[2:])["sid"]


async def test_an_unknown_namespace_is_refused(wire, http) -> None:
    _, base = wire
    ws = await _connected(http, base)
    await ws.send_str("40/nowhere,")
    refused = await _text(ws)
    # python-socketio's CONNECT_ERROR carries a bare string here where Socket.IO v5 has
    # `{"message": ...}` (docs/internals.md); both paths send what python-socketio sends.
    assert refused.startswith("44/nowhere,")
    assert json.loads(refused[len("44/nowhere,") :])
    await ws.send_str('421["echo","default namespace still connected"]')
    assert await _text(ws) == '431["default namespace still connected"]'


@pytest.mark.parametrize(
    ("sent", "ack"),
    [
        ('427["echo",1,"two",{"three":3}]', '437[1,"two",{"three":3}]'),
        ('428["echo"]', "438[]"),
        ('429["nothing"]', "439[]"),
    ],
)
async def test_acks_carry_every_argument(wire, http, sent: str, ack: str) -> None:
    _, base = wire
    ws = await _connected(http, base)
    await ws.send_str(sent)
    assert await _text(ws) == ack
    await ws.close()


@pytest.mark.parametrize(
    ("how", "data", "frame"),
    [
        ("tuple", [1, "two", {"three": 3}], '42["multi",1,"two",{"three":3}]'),
        ("room", [1, "two"], '42["multi",1,"two"]'),
        ("one", {"a": [1]}, '42["multi",{"a":[1]}]'),
        ("one", None, '42["multi"]'),
    ],
)
async def test_server_emits_send_several_arguments_not_a_nested_array(
    wire, http, how: str, data: Any, frame: str
) -> None:
    _, base = wire
    ws = await _connected(http, base)
    await ws.send_str(json.dumps(["emit", "multi", data, how]).join(["421", ""]))
    assert await _text(ws) == frame
    assert await _text(ws) == '431["done"]'
    await ws.close()


async def test_binary_emits_are_refused_cleanly(wire, http) -> None:
    _, base = wire
    ws = await _connected(http, base)
    await ws.send_str('421["emit_binary"]')
    ack = json.loads((await _text(ws))[3:])
    assert "JSON-only" in ack[0]["refused"]
    await ws.close()


async def test_a_binary_event_from_a_client_does_not_wedge_its_socket(wire, http) -> None:
    """Binary attachments reach the handler as bytes (python-socketio decodes them); an ack
    holding bytes cannot be sent (JSON only), and the session goes on."""
    server, base = wire
    ws = await _connected(http, base)
    await ws.send_str('451-["echo",{"_placeholder":true,"num":0}]')
    await ws.send_bytes(b"\x01\x02\x03")
    assert (await server.received.get()) == ("echo", (b"\x01\x02\x03",))
    await ws.send_str('422["echo","after"]')
    assert await _text(ws) == '432["after"]'
    assert await _text(ws, answer_pings=False) == "2"  # pings go on
    await ws.send_str("3")
    await ws.close()


async def test_an_invalid_socketio_packet_leaves_the_session_usable(wire, http) -> None:
    """python-socketio drops a packet it cannot decode and keeps the session; so does the
    fast path."""
    _, base = wire
    ws = await _connected(http, base)
    await ws.send_str("49garbage")
    await ws.send_str('423["echo","still here"]')
    assert await _text(ws) == '433["still here"]'
    await ws.close()
