"""PostgreSQL down or frozen under a running web process: a private PostgreSQL server
(tests/fault_support.py) that this test kills and freezes (SIGSTOP of the postmaster and its
backends), so that the shared server on 5432 is never touched."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest

from tests.fault_support import PrivatePostgres
from tests.support import (
    ADMIN_EMAIL,
    UNLIMITED,
    Api,
    Client,
    ServerProcess,
    create_admin,
    login,
    new_id,
)

# Deployments of several processes (and private servers) start slowly on a loaded machine.
pytestmark = pytest.mark.timeout(900)

# A request that hangs past this has not been answered "promptly"; generous for a shared box.
PROMPT = 5.0


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, PrivatePostgres]]:
    workdir = tmp_path_factory.mktemp("pg-faults")
    postgres = PrivatePostgres(workdir / "postgres")
    postgres.init()
    try:
        server = ServerProcess(workdir=workdir, env={**UNLIMITED, "DATABASE_URL": postgres.url})
        server.cli("migrate")
        create_admin(server)
        server.start()
        try:
            yield server, postgres
        finally:
            server.stop()
    finally:
        postgres.destroy()


async def health(http: aiohttp.ClientSession, server: ServerProcess) -> int:
    timeout = aiohttp.ClientTimeout(total=PROMPT)
    async with http.get(server.url + "/healthz", timeout=timeout) as response:
        return response.status


async def until_healthy(http: aiohttp.ClientSession, server: ServerProcess) -> None:
    for _ in range(300):  # bounded: until the pool has replaced what the fault spoiled
        if await health(http, server) == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("/healthz did not recover")


async def test_a_frozen_database_is_reported_at_once_and_recovered_from(
    http: aiohttp.ClientSession, deployment: tuple[ServerProcess, PrivatePostgres]
) -> None:
    server, postgres = deployment
    assert await health(http, server) == 200
    postgres.freeze()
    try:
        # Before: /healthz hung ~9 s on a frozen database.
        assert await health(http, server) == 503
    finally:
        postgres.thaw()
    await until_healthy(http, server)


async def test_with_the_database_down_sends_and_handshakes_are_refused_with_retry_after(
    http: aiohttp.ClientSession, deployment: tuple[ServerProcess, PrivatePostgres]
) -> None:
    server, postgres = deployment
    admin = await login(http, server.url, ADMIN_EMAIL)
    room = await admin.create_room("pg-down", "open")
    user: Api = await login(http, server.url, (await admin.create_user("pg"))["email_address"])
    await user.call("POST", f"/api/rooms/{room['id']}/members", {"user_id": user.id}, expect=201)
    await asyncio.to_thread(postgres.kill)
    try:
        status, body = await user.call(
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"content": "while down", "client_message_id": new_id()},
            timeout=aiohttp.ClientTimeout(total=PROMPT * 3),
        )
        assert status == 503, body  # was a 500
        assert body["code"] == "server_overloaded"
        client = Client(server.url)
        refusal = await client.refused(auth={"token": user.token})
        assert refusal["code"] == "server_overloaded", refusal  # was refused without a code
        assert 0 < refusal["retry_after"] <= 60
        assert await health(http, server) == 503
    finally:
        await asyncio.to_thread(postgres.start)
    await until_healthy(http, server)
    status, body = await user.call(
        "POST",
        f"/api/rooms/{room['id']}/messages",
        {"content": "after", "client_message_id": new_id()},
    )
    assert status == 201, body
    again = Client(server.url)
    await again.connect(auth={"token": user.token})
    await again.synced()
    await again.close()
