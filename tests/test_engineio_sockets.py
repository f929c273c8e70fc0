"""Engine.IO sockets are forgotten as soon as their connection ends, whatever the way.

The soak's leak: under a reconnect storm a starved process answered WebSocket upgrades after
the clients had given up, `prepare` failed ("Cannot write to closing transport"), and the
Engine.IO socket python-engineio had already registered stayed in `eio.sockets` until a ping
went unanswered and its sweep (one socket per loop pass) came by: thousands piled up. A bad
`Sec-WebSocket-Key` fails the same `prepare` deterministically. Pings are set far beyond the
test so that only the fix, not the sweep, can empty the table. Sizes come from the debug task
dump (app/debug_tasks.py), the structures themselves, not a timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import ADMIN_EMAIL, WAIT, Client, ServerProcess, login

# A dedicated server starts slowly on a loaded machine.
pytestmark = pytest.mark.timeout(600)

ROUNDS = 20
# How app/debug_tasks.py lists an Engine.IO socket whose upgrade failed and was kept.
STUCK = "closed=False closing=False connected=False upgraded=False writer=False"


def _written(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


async def dump(server: ServerProcess, target: Path) -> dict[str, Any]:
    """The server's task dump: SIGUSR1, then its file (written whole, by a rename)."""
    assert server.process is not None
    path = Path(str(target).replace("{pid}", str(server.process.pid)))
    path.unlink(missing_ok=True)  # noqa: ASYNC240
    os.kill(server.process.pid, signal.SIGUSR1)
    async with asyncio.timeout(6 * WAIT):  # a starved process may take a while to run it
        while (found := _written(path)) is None:
            await asyncio.sleep(0.05)  # another process's file: no event to wait on
    return found


async def bad_upgrade(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: campfire\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: not-a-key\r\n\r\n"
    )
    await writer.drain()
    status = await reader.readline()
    writer.close()
    return status


async def test_failed_upgrades_and_closed_sockets_leave_no_engineio_socket(
    make_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    target = tmp_path / "tasks-{pid}.json"
    server = make_server(
        CAMPFIRE_DEBUG_TASK_DUMP=str(target),
        CAMPFIRE_PING_INTERVAL="600",
        CAMPFIRE_PING_TIMEOUT="600",
        # The fix is in the fast path's WebSocket class; the stock path
        # (CAMPFIRE_ENGINE_FAST_PATH=0) keeps python-engineio's behaviour (docs/internals.md).
        CAMPFIRE_ENGINE_FAST_PATH="1",
    )
    before = (await dump(server, target))["state"]
    assert before["eio.sockets"] == before["gateway.live"] == 0

    for _ in range(ROUNDS):
        assert (await bad_upgrade(server.port)).startswith(b"HTTP/1.1 400")
    async with aiohttp.ClientSession() as http:
        admin = await login(http, server.url, ADMIN_EMAIL)
        for _ in range(ROUNDS):
            client = await Client(server.url).connect(auth={"token": admin.token})
            await client.synced()
            await client.close()

    # A client's goodbye may still be on its way when its close() returns: dump until the
    # table is back at its size, bounded. The failed upgrades' sockets would stay for good
    # (pings at 600 s): before the fix this ends with them still listed.
    after = await dump(server, target)
    async with asyncio.timeout(6 * WAIT):
        while after["state"]["eio.sockets"] > 0 or after["state"]["gateway.live"] > 0:
            if set(after["details"].get("eio.sockets_without_live_session", {})) == {STUCK}:
                break  # only failed upgrades left: they would never go
            await asyncio.sleep(0.2)  # between dumps of another process: no event to wait on
            after = await dump(server, target)
    assert after["state"]["eio.sockets"] == 0, after["details"]
    assert after["state"]["gateway.live"] == before["gateway.live"]
    assert after["state"]["sio.rooms_of_sid"] == before["sio.rooms_of_sid"]


async def test_a_broken_connection_leaves_no_reference_cycle(
    make_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """A client whose network goes (no close frame) must be freed by reference counting:
    aiohttp keeps the error of the failed close on the response, in a cycle through its
    traceback, which only a full garbage collection (rare under app/heap.py) would free, with
    the whole connection behind it. The soak's reconnects piled up thousands of them."""
    target = tmp_path / "tasks-{pid}.json"
    server = make_server(CAMPFIRE_DEBUG_TASK_DUMP=str(target), CAMPFIRE_ENGINE_FAST_PATH="1")
    url = server.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:
        admin = await login(http, server.url, ADMIN_EMAIL)
        for _ in range(ROUNDS):
            ws = await http.ws_connect(url)
            await ws.receive(timeout=WAIT)  # Engine.IO's open packet
            await ws.send_str("40" + json.dumps({"token": admin.token}))
            async with asyncio.timeout(WAIT):
                while "SyncComplete" not in str((await ws.receive()).data):
                    pass
            # The network goes: the TCP connection ends without a WebSocket close frame.
            assert ws._response is not None and ws._response.connection is not None
            transport = ws._response.connection.transport
            assert transport is not None
            transport.abort()
            await ws.close()

    after = await dump(server, target)
    async with asyncio.timeout(6 * WAIT):
        while after["state"]["gateway.live"] > 0:  # the server may not have seen every end yet
            await asyncio.sleep(0.2)  # between dumps of another process: no event to wait on
            after = await dump(server, target)
    assert after["exceptions_by_type"].get("ClientConnectionResetError", 0) == 0, after
    assert after["objects_by_type"].get("TCPTransport", 0) < ROUNDS, after["objects_by_type"]
