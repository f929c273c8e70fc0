"""A burst of reconnects larger than the database pool: every socket syncs, none is refused.

After a web process dies or Redis restarts, hundreds of sockets reconnect at once, each with
a few reads (its token, its rooms, its replay). Straight at the pool they failed with
"QueuePool limit ... reached" once they had waited `pool_timeout`, and the welcome was dropped
(the client reconnected, adding to the burst). Reads now queue in front of the pool
(`app/db.py`, PoolGate). Here the pool is one connection (and one of overflow) with a pool
timeout far shorter than the burst takes, so that the queue, not luck, is what passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import (
    ADMIN_EMAIL,
    UNLIMITED,
    Client,
    ServerProcess,
    create_admin,
    login,
    new_id,
    scratch_postgres,
)

pytestmark = pytest.mark.timeout(600)

SOCKETS = 40  # twenty times the pool
POOL_ENV = {"CAMPFIRE_DB_POOL_SIZE": "1", "CAMPFIRE_DB_POOL_TIMEOUT": "0.01"}


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[ServerProcess]:
    with scratch_postgres() as url:
        server = ServerProcess(workdir=tmp_path, env={**UNLIMITED, **POOL_ENV, "DATABASE_URL": url})
        server.cli("migrate")
        create_admin(server)
        server.start()
        try:
            yield server
        finally:
            server.stop()


async def test_a_reconnect_burst_larger_than_the_pool_all_syncs(pg_server: ServerProcess) -> None:
    server = pg_server
    async with aiohttp.ClientSession() as http:
        admin = await login(http, server.url, ADMIN_EMAIL)
        room = await admin.create_room(f"burst-{new_id()[:8]}", "open")
        # Sessions of the admin: each socket is one tab of the admin, a member of the room.
        first = Client(server.url)
        await first.connect(auth={"token": admin.token})
        await first.synced()
        await first.close()
        for i in range(3):
            await admin.send(room["id"], f"missed {i}")

        clients = [Client(server.url) for _ in range(SOCKETS)]
        cursors = {"token": admin.token, "last_seen": {room["id"]: 0}}

        async def reconnect(client: Client) -> None:
            await client.connect(auth=cursors)
            await client.synced()

        try:
            # All at once: the handshakes' and welcomes' reads (and the replays) together.
            outcomes = await asyncio.gather(
                *(reconnect(c) for c in clients), return_exceptions=True
            )
            failed = [repr(o) for o in outcomes if isinstance(o, BaseException)]
            assert not failed, failed
            for client in clients:
                replayed = [e for e in client.named("NewMessage") if e["room_id"] == room["id"]]
                contents = [e["message"]["content"] for e in replayed]
                assert contents[-3:] == [f"missed {i}" for i in range(3)]
                assert not client.disconnected.is_set()
        finally:
            await asyncio.gather(*(c.close() for c in clients))
    assert "QueuePool limit" not in server.log_path.read_text()
