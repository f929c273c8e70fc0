"""A socket the server ends must lose its TCP connection too, whatever the client does.

python-socketio's own clients hang up when they read the server's Engine.IO close packet; a
client that ignores it (a half-open connection, a careless or hostile program) must not keep
its connection, its file descriptor and its state in the server for as long as it likes.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support import WAIT
from tests.test_owned_websocket import TEXT, RawWebSocket

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("fast_path", ["1", "0"])
async def test_a_client_that_ignores_the_goodbye_is_cut_off(make_server, fast_path: str) -> None:
    server = make_server(
        CAMPFIRE_AUTH_TIMEOUT_SECONDS="1",
        CAMPFIRE_ENGINE_FAST_PATH=fast_path,
        CAMPFIRE_WEBSOCKET_COMPRESSION="0",
        CAMPFIRE_PING_INTERVAL="600",
        CAMPFIRE_PING_TIMEOUT="600",
    )
    raw = await RawWebSocket.open(server.port)
    await raw.text_until(lambda t: t.startswith("0"))
    raw.send_text("40")  # connects without a token: it has the auth timeout to send `Auth`
    goodbye = await raw.text_until(lambda t: "auth_timeout" in t)
    assert "Disconnect" in goodbye
    # The client neither answers nor closes: the server closes the connection itself, long
    # before any ping would find the client gone (pings are 600 s apart here).
    async with asyncio.timeout(2 * WAIT):
        frames = await raw.ended()
    texts = [payload.decode() for opcode, payload in frames if opcode == TEXT]
    assert all("NewMessage" not in text for text in texts)
    raw.close()
