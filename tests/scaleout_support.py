"""Helpers for the Redis and PostgreSQL tests: real servers on loopback, per-run isolation.

A `Cluster` is one deployment: its own PostgreSQL database (created and dropped here), its
own Redis key prefix (so its own Socket.IO channel and arq queue), any number of
`campfire serve` processes and arq workers, all started and stopped by PID.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.processes import ROOT, ServerProcess, WorkerProcess, child_env, free_port
from tests.support import (
    ADMIN_EMAIL,
    PASSWORD,
    POSTGRES_ADMIN_DSN,
    create_database,
    database_url,
    drop_database,
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
        tool.cli(
            "user",
            "create",
            "--name",
            "Admin",
            "--email",
            ADMIN_EMAIL,
            "--password",
            PASSWORD,
            "--admin",
        )

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


__all__ = [
    "POSTGRES_ADMIN_DSN",
    "REDIS_URL",
    "Cluster",
    "WorkerProcess",
    "create_database",
    "database_url",
    "delete_redis_keys",
    "drop_database",
    "free_port",
]
