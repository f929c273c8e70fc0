"""A web process's shutdown waits for the ends of its taken-over websockets
(app/realtime/engineio_seam/owned.py, `OwnedConnections.close`).

Each connection's end runs the disconnect handler, which takes the connection out of the
state shared in Redis. aiohttp waited for its request handlers at shutdown; it does not know
taken-over connections, so without the wait the process exited in the middle of those ends
and left the connections counted in Redis: the user's next connections were refused past the
per-user limit (`too_many_connections`) until the worker's stale-connection sweep. (Found by
the bench's Redis scenario: after an overloaded one-process run, 287 of 1,000 sockets of the
next run were refused.)
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator

import aiohttp
import pytest
import redis

from tests.fault_support import StallProxy
from tests.scaleout_support import REDIS_URL, Cluster, cluster_fixture
from tests.support import ADMIN_EMAIL, login, wait_for_metric
from tests.test_owned_websocket import RawWebSocket

pytestmark = pytest.mark.timeout(400)

SOCKETS = 100
# Redis answers one request at a time, each after this delay: the 100 ends take ~1 s in all,
# within the shutdown's wait (3 s), and are all still under way when the shutdown begins.
REDIS_DELAY = 0.01
ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_LOGIN_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": str(SOCKETS + 10),
}

# The worker talks to Redis directly; the web process under test through a proxy.
cluster = cluster_fixture("owned-shutdown", ENV, servers=0, workers=1)


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


@pytest.fixture(name="proxy")
def proxy_fixture() -> Iterator[StallProxy]:
    proxy = StallProxy(6379).start()
    try:
        yield proxy
    finally:
        proxy.close()


async def test_connections_ending_as_the_process_stops_leave_nothing_in_redis(
    cluster: Cluster, proxy: StallProxy, http: aiohttp.ClientSession
) -> None:
    server = cluster.add_server(REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
    admin = await login(http, server.url, ADMIN_EMAIL)
    sockets = await asyncio.gather(*(_welcomed(server.port, admin.token) for _ in range(SOCKETS)))
    assert _connections_in_redis(cluster.prefix) == SOCKETS

    # Every client goes at once, without a close frame; the process has seen them all go
    # (its connection gauge counts down before the Redis state is told) while Redis is
    # still taking the ends in, one at a time, when the process is told to stop.
    proxy.slow(REDIS_DELAY)
    for ws in sockets:
        ws.writer.transport.abort()
    await wait_for_metric(http, server.url, "campfire_active_connections", 0)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(server.process.wait, 60) == 0
    server.process = None

    assert _connections_in_redis(cluster.prefix) == 0
