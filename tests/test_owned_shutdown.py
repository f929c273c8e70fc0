"""A web process's shutdown waits for the ends of its taken-over websockets
(app/realtime/engineio_seam/owned.py, `OwnedConnections.close`).

Each connection's end runs the disconnect handler, which takes the connection out of the
state shared in Redis. aiohttp waited for its request handlers at shutdown; it does not know
taken-over connections, so without the wait the process exited in the middle of those ends
and left the connections counted in Redis: the user's next connections were refused past the
per-user limit (`too_many_connections`) until the worker's stale-connection sweep.
"""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
import redis

from tests.scaleout_support import REDIS_URL, Cluster, admin_fixture, cluster_fixture
from tests.support import Api
from tests.test_owned_websocket import RawWebSocket

pytestmark = pytest.mark.timeout(400)

SOCKETS = 100
ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_LOGIN_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": str(SOCKETS + 10),
}

cluster = cluster_fixture("owned-shutdown", ENV, servers=1, workers=1)
admin = admin_fixture()


async def _welcomed(port: int, token: str) -> RawWebSocket:
    ws = await RawWebSocket.open(port)
    await ws.text_until(lambda t: t.startswith("0"))
    ws.send_text("40" + json.dumps({"token": token}))
    await ws.text_until(lambda t: "SyncComplete" in t)
    return ws


def _connections_in_redis(prefix: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(1 for _ in client.scan_iter(match=f"{prefix}:rt:conn:*", count=1000))
    finally:
        client.close()


async def test_connections_ending_as_the_process_stops_leave_nothing_in_redis(
    cluster: Cluster, admin: Api
) -> None:
    server = cluster.servers[0]
    sockets = await asyncio.gather(*(_welcomed(server.port, admin.token) for _ in range(SOCKETS)))
    assert _connections_in_redis(cluster.prefix) == SOCKETS

    # Every client goes at once, without a close frame, as the process is told to stop: the
    # ends of their connections are under way when the shutdown begins.
    for ws in sockets:
        ws.writer.transport.abort()
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(server.process.wait, 60) == 0
    server.process = None

    assert _connections_in_redis(cluster.prefix) == 0
