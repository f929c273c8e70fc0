"""Concurrent HTTP sends to one room keep seqs contiguous, on SQLite and on PostgreSQL.

Against live `campfire serve` processes: the shared SQLite one from conftest, and one on a
PostgreSQL database made for this run (127.0.0.1:5432, user postgres) and dropped after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import (
    ADMIN_EMAIL,
    UNLIMITED,
    Api,
    ServerProcess,
    create_admin,
    login,
    scratch_postgres,
)

SENDS = 200
SENDERS = 4


async def _run_sends(http: aiohttp.ClientSession, base: str, admin: Api) -> None:
    """200 sends at once from several users to one closed room, then check every seq."""
    users = [await admin.create_user(f"sender{n}") for n in range(SENDERS - 1)]
    senders = [admin] + [await login(http, base, u["email_address"]) for u in users]
    room = await admin.create_room("busy", "closed", [s.id for s in senders[1:]])

    async def one(n: int) -> tuple[str, int, dict[str, Any]]:
        sender = senders[n % SENDERS]
        cmid = str(uuid.uuid4())
        status, data = await sender.call(
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"content": f"message {n}", "client_message_id": cmid},
        )
        return cmid, status, data

    results = await asyncio.gather(*(one(n) for n in range(SENDS)))
    assert Counter(status for _, status, _ in results) == {201: SENDS}, results[:3]
    seqs = sorted(data["message"]["seq"] for _, _, data in results)
    assert seqs == list(range(1, SENDS + 1))
    by_cmid = {cmid: data["message"] for cmid, _, data in results}
    assert all(m["client_message_id"] == cmid for cmid, m in by_cmid.items())

    # History, paged forward by seq, holds exactly those messages in seq order.
    paged: list[dict[str, Any]] = []
    while page := await admin.history(room["id"], after_seq=len(paged), limit=200):
        paged += page
    assert [m["seq"] for m in paged] == list(range(1, SENDS + 1))
    assert {m["client_message_id"]: m for m in paged} == by_cmid

    # One more: a limit above 200 counts as 200, the newest ones.
    await admin.send(room["id"], "one more")
    latest = await admin.history(room["id"], limit=1000)
    assert [m["seq"] for m in latest] == list(range(SENDS + 1 - 199, SENDS + 2))


async def _run_duplicate_race(admin: Api) -> None:
    """The same client_message_id sent 20 times at once makes one message; all see it."""
    room = await admin.create_room("dupes", "closed")
    cmid = str(uuid.uuid4())
    body = {"content": "only once", "client_message_id": cmid}
    results = await asyncio.gather(
        *(admin.call("POST", f"/api/rooms/{room['id']}/messages", body) for _ in range(20))
    )
    statuses = Counter(status for status, _ in results)
    assert statuses[201] == 1 and statuses[200] == 19, statuses
    assert len({data["message"]["id"] for _, data in results}) == 1
    assert [m["seq"] for m in await admin.history(room["id"])] == [1]


@pytest.fixture
async def wide_http() -> AsyncIterator[aiohttp.ClientSession]:
    # Enough connections that all 200 requests are really in flight together.
    connector = aiohttp.TCPConnector(limit=SENDS)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def test_200_concurrent_sends_on_sqlite(
    server: ServerProcess, wide_http: aiohttp.ClientSession
) -> None:
    admin = await login(wide_http, server.url, ADMIN_EMAIL)
    await _run_sends(wide_http, server.url, admin)


async def test_concurrent_resends_on_sqlite(
    server: ServerProcess, wide_http: aiohttp.ClientSession
) -> None:
    await _run_duplicate_race(await login(wide_http, server.url, ADMIN_EMAIL))


# ---- PostgreSQL ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`campfire migrate`, `user create` and `serve` on a fresh PostgreSQL database."""
    with scratch_postgres() as database_url:
        workdir: Path = tmp_path_factory.mktemp("postgres-server")
        process = ServerProcess(workdir=workdir, env={**UNLIMITED, "DATABASE_URL": database_url})
        try:
            process.cli("migrate")
            create_admin(process)
            process.start()
            yield process
        finally:
            process.stop()


async def test_200_concurrent_sends_on_postgresql(
    postgres_server: ServerProcess, wide_http: aiohttp.ClientSession
) -> None:
    admin = await login(wide_http, postgres_server.url, ADMIN_EMAIL)
    await _run_sends(wide_http, postgres_server.url, admin)


async def test_concurrent_resends_on_postgresql(
    postgres_server: ServerProcess, wide_http: aiohttp.ClientSession
) -> None:
    admin = await login(wide_http, postgres_server.url, ADMIN_EMAIL)
    await _run_duplicate_race(admin)
