"""An event whose name is not a string is answered `invalid_message_format`, and the socket
keeps working (issue 15: it was `internal_error` with a traceback)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.support import ServerProcess


async def _open(http: aiohttp.ClientSession, server: ServerProcess, token: str) -> Any:
    ws = await http.ws_connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket&token={token}"
    )
    assert (await ws.receive_str(timeout=10)).startswith("0")
    await ws.send_str("40")
    return ws


async def _next(ws: Any, prefix: str) -> str:
    """The next text frame starting with `prefix`, answering pings on the way."""
    while True:
        frame = await ws.receive_str(timeout=10)
        if frame == "2":
            await ws.send_str("3")
        elif frame.startswith(prefix):
            return frame


@pytest.mark.parametrize(
    "packet", ["[null]", '[7,{"room_id":"x"}]', '[{"a":1}]', "[[1]]", "null", "[]", '"Ping"']
)
async def test_an_event_name_that_is_not_a_string_is_invalid_message_format(
    server, user_factory, http, packet: str
) -> None:
    user = await user_factory("names")
    ws = await _open(http, server, user.token)
    try:
        await _next(ws, '42["SyncComplete"')
        await ws.send_str(f"421{packet}")  # with an ack: the error is the ack's envelope
        ack = json.loads((await _next(ws, "431"))[3:])
        assert ack[0]["type"] == "Error"
        assert ack[0]["data"]["code"] == "invalid_message_format"
        await ws.send_str(f"42{packet}")  # without: an `Error` event
        _name, data = json.loads((await _next(ws, '42["Error"'))[2:])
        assert data["code"] == "invalid_message_format"
        # The socket still works.
        await ws.send_str('422["Ping",{}]')
        assert json.loads((await _next(ws, "432"))[3:])[0]["type"] == "Pong"
    finally:
        await ws.close()


@pytest.mark.parametrize("num", [0, 5])
async def test_a_binary_event_is_refused_and_the_socket_keeps_working(
    server, user_factory, http, num: int
) -> None:
    """A binary-placeholder event followed by a binary frame (issue 15: a placeholder naming
    no attachment wedged the socket: every later frame was taken for an attachment).
    Campfire's events are JSON: it is answered invalid_message_format."""
    user = await user_factory("binary")
    room = await user.create_room("binary", "closed")
    ws = await _open(http, server, user.token)
    try:
        await _next(ws, '42["SyncComplete"')
        placeholder = {"_placeholder": True, "num": num}
        await ws.send_str(
            "451-1" + json.dumps(["NewMessage", {"room_id": room["id"], "content": placeholder}])
        )
        await ws.send_bytes(b"\x00\x01binary")
        ack = json.loads((await _next(ws, "431"))[3:])
        assert ack[0]["type"] == "MessageError"
        assert ack[0]["data"]["code"] == "invalid_message_format"
        await ws.send_str("451-" + json.dumps(["Ping", placeholder]))
        await ws.send_bytes(b"\x00")
        _name, data = json.loads((await _next(ws, '42["Error"'))[2:])
        assert data["code"] == "invalid_message_format"
        # The socket still works.
        await ws.send_str('422["Ping",{}]')
        assert json.loads((await _next(ws, "432"))[3:])[0]["type"] == "Pong"
    finally:
        await ws.close()
