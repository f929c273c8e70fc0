"""Helpers for the Redis and PostgreSQL tests: real servers on loopback, per-run isolation.

A `Cluster` is one deployment: its own PostgreSQL database (created and dropped here), its
own Redis key prefix (so its own Socket.IO channel and arq queue), any number of
`campfire serve` processes and arq workers, all started and stopped by PID.

A test module takes its fixtures from the factories below instead of writing them again:

    cluster = cluster_fixture("people-scaleout", ENV)   # 2 servers, 1 worker
    admin = admin_fixture()                             # signed in on the first server
    clients = clients_fixture()                         # sockets closed after the test
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from tests.processes import ROOT, ServerProcess, WorkerProcess, child_env, free_port
from tests.support import (
    ADMIN_EMAIL,
    POSTGRES_ADMIN_DSN,
    Api,
    Client,
    create_admin,
    create_database,
    database_url,
    drop_database,
    login,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


# ---- Redis --------------------------------------------------------------------------


def delete_redis_keys(prefix: str) -> int:
    """Every key of one prefix: the state, the Socket.IO channel has none, the arq queue,
    and arq's job and result keys, whose ids carry the prefix for cron and thumbnail jobs."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        keys += list(client.scan_iter(match=f"arq:*:{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


# ---- a deployment -------------------------------------------------------------------


@dataclass
class Cluster:
    """Web processes and workers sharing one PostgreSQL database and one Redis prefix."""

    workdir: Path
    env: dict[str, str]
    prefix: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex}")
    database: str = ""
    servers: list[ServerProcess] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)
    # A private Redis (tests/fault_support.py) for tests that restart it.
    redis_url: str = REDIS_URL

    def base_env(self) -> dict[str, str]:
        return {
            **self.env,
            "DATABASE_URL": database_url(self.database),
            "REDIS_URL": self.redis_url,
            "CAMPFIRE_REDIS_PREFIX": self.prefix,
            # One storage folder for every process: the worker makes the thumbnails of files
            # the web processes stored.
            "CAMPFIRE_STORAGE_DIR": str(self.workdir / "storage"),
        }

    def setup(self) -> None:
        """Create the database, migrate it (`campfire migrate`) and create the admin."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.database = create_database("campfire_test")
        tool = ServerProcess(workdir=self.workdir, env=self.base_env())
        tool.cli("migrate")
        create_admin(tool)

    def start(self, servers: int, workers: int) -> None:
        """Start several processes at once: each spends seconds importing before it listens."""
        made: list[ServerProcess | WorkerProcess] = []
        for _ in range(servers):
            made.append(ServerProcess(workdir=self.workdir, env=self.base_env()))
            self.servers.append(made[-1])  # type: ignore[arg-type]
        for _ in range(workers):
            made.append(WorkerProcess(workdir=self.workdir, env=self.base_env()))
            self.workers.append(made[-1])  # type: ignore[arg-type]
        with ThreadPoolExecutor(len(made)) as pool:
            for future in [pool.submit(process.start) for process in made]:
                future.result()

    def add_server(self, **env: str) -> ServerProcess:
        server = ServerProcess(workdir=self.workdir, env={**self.base_env(), **env})
        self.servers.append(server)
        server.start()
        return server

    def add_worker(self, **env: str) -> WorkerProcess:
        worker = WorkerProcess(workdir=self.workdir, env={**self.base_env(), **env})
        self.workers.append(worker)
        worker.start()
        return worker

    def check(self, prefix: str | None = None) -> subprocess.CompletedProcess[str]:
        """`arq --check` for this cluster's queue (or another prefix's): exit 0 while a
        worker is alive."""
        env = child_env(self.base_env())
        if prefix is not None:
            env["CAMPFIRE_REDIS_PREFIX"] = prefix
        return subprocess.run(
            [sys.executable, "-m", "arq", "--check", "jobs.worker.WorkerSettings"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def teardown(self) -> None:
        for process in [*self.servers, *self.workers]:
            process.stop()
        if self.database:
            drop_database(self.database)
        if self.redis_url == REDIS_URL:  # a private Redis goes away with its keys
            delete_redis_keys(self.prefix)


# ---- fixture factories ----------------------------------------------------------------


def cluster_fixture(
    tag: str,
    env: dict[str, str],
    *,
    servers: int = 2,
    workers: int = 1,
    staggered: bool = False,
    private_redis: bool = False,
) -> Any:
    """A module's `cluster` fixture: a deployment set up, started, and always torn down.

    `staggered` starts the processes one after another (on a loaded machine several imports
    at once can outlast the start timeout); `private_redis` puts the deployment on the
    module's `redis_server` fixture (tests/fault_support.py) instead of the shared Redis."""

    @pytest.fixture(scope="module", name="cluster")
    def cluster(
        tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
    ) -> Iterator[Cluster]:
        redis_url = request.getfixturevalue("redis_server").url if private_redis else REDIS_URL
        deployment = Cluster(tmp_path_factory.mktemp(tag), dict(env), redis_url=redis_url)
        try:
            deployment.setup()
            if staggered:
                for _ in range(servers):
                    deployment.add_server()
                for _ in range(workers):
                    deployment.add_worker()
            else:
                deployment.start(servers=servers, workers=workers)
            yield deployment
        finally:
            deployment.teardown()

    return cluster


def admin_fixture() -> Any:
    """A module's `admin` fixture: the cluster's admin, signed in on its first server."""

    @pytest.fixture(name="admin")
    async def admin(http: aiohttp.ClientSession, cluster: Cluster) -> Api:
        return await login(http, cluster.servers[0].url, ADMIN_EMAIL)

    return admin


def clients_fixture() -> Any:
    """A module's `clients` fixture: a list the test opens sockets into, all closed after."""

    @pytest.fixture(name="clients")
    async def clients() -> AsyncIterator[list[Client]]:
        opened: list[Client] = []
        yield opened
        await asyncio.gather(*(client.close() for client in opened))

    return clients


# ---- people and sockets on a cluster --------------------------------------------------


async def new_user(
    admin: Api, http: aiohttp.ClientSession, server: ServerProcess, name: str = ""
) -> Api:
    """A new member made by `admin`, signed in on `server`."""
    user = await admin.create_user(name or f"user{uuid.uuid4().hex[:6]}")
    return await login(http, server.url, user["email_address"])


def on(api: Api, server: ServerProcess) -> Api:
    """The same signed-in user, talking to another process."""
    return Api(api.http, server.url, api.token, api.user)


async def connect(
    clients: list[Client],
    server: ServerProcess,
    who: Api | str,
    *,
    sync_timeout: float | None = None,
    **auth: Any,
) -> Client:
    """A socket on `server` for `who` (a user or a bare token), synced, closed after the test."""
    client = Client(server.url)
    clients.append(client)
    token = who if isinstance(who, str) else who.token
    await client.connect(auth={"token": token, **auth})
    if sync_timeout is None:
        await client.synced()
    else:
        await client.synced(timeout=sync_timeout)
    return client


__all__ = [
    "POSTGRES_ADMIN_DSN",
    "REDIS_URL",
    "Cluster",
    "WorkerProcess",
    "admin_fixture",
    "clients_fixture",
    "cluster_fixture",
    "connect",
    "create_database",
    "database_url",
    "delete_redis_keys",
    "drop_database",
    "free_port",
    "new_user",
    "on",
]
