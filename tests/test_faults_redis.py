"""Redis restarts and outages under a real deployment: one or two `campfire serve` processes and
a supervised worker on a private Redis (restarted here, never the shared one) and a database of
their own on the shared PostgreSQL.

Each test leaves Redis running for the next one; a restart loses every key (no persistence),
as a failover to an empty replica would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.state.redis import RedisState
from tests.fault_support import PrivateRedis
from tests.scaleout_support import (
    Cluster,
    admin_fixture,
    clients_fixture,
    cluster_fixture,
    connect,
    new_user,
)
from tests.support import Api, Client, metric

# Deployments of several processes (and private servers) start slowly on a loaded machine.
pytestmark = pytest.mark.timeout(900)

FAULT_ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_TYPING_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "50",
    "CAMPFIRE_HEARTBEAT_SECONDS": "1",
    "CAMPFIRE_PRESENCE_SWEEP_SECONDS": "1",
    "CAMPFIRE_PRESENCE_STALE_SECONDS": "30",
    "CAMPFIRE_FANOUT_AUDIT_SECONDS": "1",
}
OUTAGE = 3.0  # seconds Redis stays down in a restart, as when it was probed from outside
RECOVERY = 30.0  # generous: the machine is shared


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


cluster = cluster_fixture("faults", FAULT_ENV, servers=2, workers=1, private_redis=True)
admin = admin_fixture()
clients = clients_fixture()


async def worker_metric(http: aiohttp.ClientSession, cluster: Cluster, name: str) -> float:
    worker = cluster.workers[0]
    try:
        return await metric(http, worker.metrics_url.removesuffix("/metrics"), name)
    except aiohttp.ClientError:
        return -1.0  # between two incarnations of the worker


async def wait_for(check: Any, timeout: float = RECOVERY) -> None:
    """Wait for an async condition that no event announces."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.1)


async def redis_back(http: aiohttp.ClientSession, cluster: Cluster) -> None:
    """Every web process reports Redis healthy again."""

    async def healthy() -> bool:
        for server in cluster.servers:
            async with http.get(server.url + "/healthz") as response:
                if response.status != 200:
                    return False
        return True

    await wait_for(healthy)


async def test_the_worker_rides_out_a_redis_restart(
    http: aiohttp.ClientSession,
    admin: Api,
    cluster: Cluster,
    redis_server: PrivateRedis,
    clients: list[Client],
) -> None:
    p1 = cluster.servers[0]
    a = await new_user(admin, http, p1)
    room = await admin.create_room("worker", "closed", [a.id])
    await a.send(room["id"], "before the outage")
    replayed_before = await worker_metric(http, cluster, "campfire_replayed_messages_total")
    assert replayed_before >= 0

    await asyncio.to_thread(redis_server.restart, OUTAGE)
    await redis_back(http, cluster)

    worker = cluster.workers[0]
    assert worker.process is not None
    # arq's own runner exited 1 here; the supervised worker starts a new incarnation.
    assert worker.process.poll() is None, worker.log_path.read_text()[-2000:]
    await wait_for(lambda: _ge(worker_metric(http, cluster, "campfire_replayed_messages_total"), 0))
    client = await connect(clients, p1, a, last_seen={room["id"]: 0}, sync_timeout=RECOVERY)
    assert [d["message"]["content"] for d in client.named("NewMessage")] == ["before the outage"]
    # The replay came from the worker (whose counters restarted with it).
    await wait_for(lambda: _ge(worker_metric(http, cluster, "campfire_replayed_messages_total"), 1))
    assert worker.process.poll() is None


async def _ge(value: Any, floor: float) -> bool:
    return (await value) >= floor


async def test_presence_comes_back_after_a_redis_restart(
    http: aiohttp.ClientSession,
    admin: Api,
    cluster: Cluster,
    redis_server: PrivateRedis,
    clients: list[Client],
) -> None:
    users = [await new_user(admin, http, s) for s in [*cluster.servers, *cluster.servers]]
    room = await admin.create_room("presence", "closed", [u.id for u in users])
    for i, user in enumerate(users):
        await connect(clients, cluster.servers[i % 2], user, sync_timeout=RECOVERY)
    viewer = users[0]

    async def online() -> set[str]:
        _, data = await viewer.call("GET", f"/api/rooms/{room['id']}/presence", expect=200)
        return set(data["online_users"])

    assert await online() == {u.id for u in users}
    await asyncio.to_thread(redis_server.restart, OUTAGE)
    await redis_back(http, cluster)

    # Every socket stayed open; the processes put their connections back.
    async def everyone_online() -> bool:
        try:
            return await online() == {u.id for u in users}
        except AssertionError:  # a 503 while Redis is still coming back
            return False

    await wait_for(everyone_online)
    assert not any(c.disconnected.is_set() for c in clients)


async def test_visibility_comes_back_after_a_redis_restart(
    http: aiohttp.ClientSession,
    admin: Api,
    cluster: Cluster,
    redis_server: PrivateRedis,
    clients: list[Client],
) -> None:
    """Web Push asks whether a user has a visible page: after a restart a visible user must
    not start getting pushes, nor a hidden one stop getting them."""
    shown, hidden = [await new_user(admin, http, s) for s in cluster.servers]
    await connect(clients, cluster.servers[0], shown, sync_timeout=RECOVERY)
    tab = await connect(clients, cluster.servers[1], hidden, sync_timeout=RECOVERY)
    ack = await tab.call("Visibility", {"visible": False})
    assert ack["type"] == "Ok", ack
    state = RedisState.from_url(redis_server.url, prefix=cluster.prefix)
    try:
        assert await state.visible_users([shown.id, hidden.id]) == {shown.id}
        await asyncio.to_thread(redis_server.restart, OUTAGE)
        await redis_back(http, cluster)

        async def both_back() -> bool:
            try:
                return await state.online_users([shown.id, hidden.id]) == {shown.id, hidden.id}
            except (RedisError, OSError):  # still reconnecting
                return False

        await wait_for(both_back)
        assert await state.visible_users([shown.id, hidden.id]) == {shown.id}
    finally:
        await state.close()


async def test_a_replay_pending_when_redis_is_wiped_still_arrives(
    http: aiohttp.ClientSession,
    admin: Api,
    cluster: Cluster,
    redis_server: PrivateRedis,
    clients: list[Client],
) -> None:
    """Redis emptied (a FLUSHALL, or a restart without data) while a connecting socket's
    replay waits in the queue: nobody would ever run it, and the client would wait for its
    SyncComplete for good. The web process replays it; presence comes back too."""
    p1 = cluster.servers[0]
    a, b = await new_user(admin, http, p1), await new_user(admin, http, p1)
    room = await admin.create_room("wiped", "closed", [a.id, b.id])
    sent = await b.send(room["id"], "missed before the wipe")
    worker = cluster.workers[0]
    worker.stop()  # so that the replay stays queued
    raw = aioredis.Redis.from_url(redis_server.url)
    state = RedisState.from_url(redis_server.url, prefix=cluster.prefix)
    try:
        client = Client(p1.url)
        clients.append(client)
        await client.connect(auth={"token": a.token, "last_seen": {room["id"]: 0}})
        await client.wait_for("AuthSuccess", timeout=RECOVERY)
        queue = f"{cluster.prefix}:arq:queue"

        async def queued() -> bool:
            return bool(await raw.zcard(queue))

        await wait_for(queued)
        await raw.flushall()  # within the replay wait (CAMPFIRE_REPLAY_WAIT_SECONDS, 5 s)
        synced = await client.synced(timeout=RECOVERY)
        assert synced["missed_count"] == 1
        shown = [d["message"]["id"] for d in client.named("NewMessage")]
        assert shown == [sent["id"]]

        async def online() -> bool:
            return await state.online_users([a.id]) == {a.id}

        await wait_for(online)
        assert not client.disconnected.is_set()
    finally:
        await raw.aclose()
        await state.close()
        await asyncio.to_thread(worker.start)


async def test_a_handshake_during_a_redis_outage_is_refused_with_retry_after(
    http: aiohttp.ClientSession,
    admin: Api,
    cluster: Cluster,
    redis_server: PrivateRedis,
    clients: list[Client],
) -> None:
    p1 = cluster.servers[0]
    a = await new_user(admin, http, p1)
    redis_server.kill()
    try:
        client = Client(p1.url)
        clients.append(client)
        # Generous: the refusal comes after the bounded Redis wait, on a possibly busy machine.
        refusal = await client.refused(auth={"token": a.token}, wait_timeout=30)
        assert refusal["code"] == "server_overloaded", refusal
        assert 0 < refusal["retry_after"] <= 60
    finally:
        await asyncio.to_thread(redis_server.start)
    await redis_back(http, cluster)
    again = await connect(clients, p1, a, sync_timeout=RECOVERY)
    assert again.named("AuthSuccess")


async def test_messages_sent_during_a_redis_outage_reach_every_process(
    http: aiohttp.ClientSession,
    admin: Api,
    cluster: Cluster,
    redis_server: PrivateRedis,
    clients: list[Client],
) -> None:
    p1, p2 = cluster.servers
    sender, near, far = [await new_user(admin, http, s) for s in (p1, p1, p2)]
    room = await admin.create_room("outage-fanout", "closed", [sender.id, near.id, far.id])
    c_near = await connect(clients, p1, near, sync_timeout=RECOVERY)
    c_far = await connect(clients, p2, far, sync_timeout=RECOVERY)
    failures = await metric(http, p1.url, "campfire_emit_failures_total")
    redis_server.kill()
    try:
        # Sent over HTTP on p1 while Redis is down: stored and acknowledged (the database is up).
        sent = await sender.send(room["id"], "during the outage")
        # p1 delivers to its own sockets without the Redis round trip...
        await c_near.wait_for("NewMessage", lambda d: d["message"]["id"] == sent["id"])

        # ...and counts the publish that never reached p2 (it gives up right after).
        async def counted() -> bool:
            return await metric(http, p1.url, "campfire_emit_failures_total") > failures

        await wait_for(counted)
    finally:
        await asyncio.to_thread(redis_server.start)
    # The room then falls quiet: p2's audit notices the seq it never delivered and delivers it,
    # with no later message and no reconnect.
    got = await c_far.wait_for(
        "NewMessage", lambda d: d["message"]["id"] == sent["id"], timeout=RECOVERY
    )
    assert got["message"]["seq"] == sent["seq"]
    assert not c_far.disconnected.is_set()
    assert await metric(http, p2.url, "campfire_fanout_repaired_total") >= 1
