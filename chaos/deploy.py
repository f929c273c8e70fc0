"""Deployments the chaos harness breaks: all on loopback, every server its own, stopped by PID.

- "single": one `campfire serve` on SQLite, jobs in-process (the small-team setup);
- "cluster": two `campfire serve` processes and one supervised worker on a private Redis and a
  private PostgreSQL (an `initdb` cluster in the work directory), so that both can be killed
  and restarted without touching the machine's shared servers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.fault_support import PrivatePostgres, PrivateRedis, StallProxy
from tests.processes import WorkerProcess
from tests.support import ADMIN_EMAIL, PASSWORD, ServerProcess

# Short intervals so that a scenario's faults are detected and healed within seconds.
CHAOS_ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_TYPING_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "100",
    "CAMPFIRE_PING_INTERVAL": "5",
    "CAMPFIRE_PING_TIMEOUT": "5",
    "CAMPFIRE_HEARTBEAT_SECONDS": "2",
    "CAMPFIRE_PRESENCE_STALE_SECONDS": "30",
    "CAMPFIRE_PRESENCE_SWEEP_SECONDS": "5",
    "CAMPFIRE_REPLAY_WAIT_SECONDS": "3",
    "CAMPFIRE_FANOUT_AUDIT_SECONDS": "2",
    "CAMPFIRE_LOG": "warning",
}
PING_DEADLINE_MS = 11_000  # ping interval + ping timeout, and a second of slack
# Generous but finite: at nice 19 on a shared 2-core machine a process may be starved of CPU
# for minutes while benchmarks run at normal priority; imports alone then take a minute.
START_TIMEOUT = 600.0


@dataclass
class Deployment:
    kind: str
    workdir: Path
    servers: list[ServerProcess] = field(default_factory=list)
    worker: WorkerProcess | None = None
    redis: PrivateRedis | None = None
    postgres: PrivatePostgres | None = None
    proxy: StallProxy | None = None
    env: dict[str, str] = field(default_factory=dict)
    killed: set[int] = field(default_factory=set)  # PIDs we killed on purpose
    overrides: dict[str, str] = field(default_factory=dict)  # on top of CHAOS_ENV

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**CHAOS_ENV, **self.overrides}
        if self.kind == "single":
            env["DATABASE_URL"] = f"sqlite:///{self.workdir / 'chaos.sqlite3'}"
            web = 1
        else:
            self.redis = PrivateRedis(self.workdir / "redis")
            self.redis.start()
            self.postgres = PrivatePostgres(self.workdir / "postgres")
            self.postgres.init()
            env.update(
                DATABASE_URL=self.postgres.url,
                REDIS_URL=self.redis.url,
                CAMPFIRE_REDIS_PREFIX=f"chaos-{uuid.uuid4().hex[:8]}",
            )
            web = 2
        self.env = env
        tool = ServerProcess(workdir=self.workdir, env=env, start_timeout=START_TIMEOUT)
        tool.cli("migrate")
        tool.cli(
            "user", "create", "--name", "Admin", "--email", ADMIN_EMAIL,
            "--password", PASSWORD, "--admin",
        )  # fmt: skip
        for _ in range(web):
            server = ServerProcess(workdir=self.workdir, env=env, start_timeout=START_TIMEOUT)
            server.start()
            self.servers.append(server)
        if self.kind == "cluster":
            self.worker = WorkerProcess(workdir=self.workdir, env=env, start_timeout=START_TIMEOUT)
            self.worker.start()
        self.proxy = StallProxy(self.servers[0].port).start()

    @property
    def proxy_url(self) -> str:
        assert self.proxy is not None
        return f"http://127.0.0.1:{self.proxy.port}"

    def processes(self) -> list[Any]:
        found: list[Any] = [*self.servers]
        if self.worker is not None:
            found.append(self.worker)
        return found

    def crashed(self) -> list[str]:
        """Processes that exited although nobody killed them (a crash or an exit on a fault)."""
        out = []
        for p in self.processes():
            proc = p.process
            if proc is None:
                out.append(f"{type(p).__name__} not running")
            elif proc.poll() is not None and proc.pid not in self.killed:
                out.append(f"{type(p).__name__} {proc.pid} exited {proc.returncode}")
        return out

    def kill9(self, process: Any) -> None:
        if process.process is not None:
            self.killed.add(process.process.pid)
        process.kill()

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        for p in self.processes():
            p.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.destroy()

    # ---- the database, read directly by the checker -------------------------------------

    async def rows(self, room_ids: list[str]) -> list[tuple[str, str, int, str, str]]:
        sql = (
            "SELECT id, room_id, seq, creator_id, client_message_id FROM messages"
            " WHERE room_id IN ({})"
        )
        return await self._query(sql, room_ids)

    async def last_seqs(self, room_ids: list[str]) -> dict[str, int]:
        rows = await self._query("SELECT id, last_seq FROM rooms WHERE id IN ({})", room_ids)
        return {room_id: int(seq) for room_id, seq in rows}

    async def _query(self, sql: str, room_ids: list[str]) -> list[Any]:
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.kind == "single":
                    marks = ", ".join("?" for _ in room_ids)
                    path = self.env["DATABASE_URL"].removeprefix("sqlite:///")
                    with sqlite3.connect(path, timeout=30) as connection:
                        return connection.execute(sql.format(marks), room_ids).fetchall()
                marks = ", ".join(f"${i + 1}" for i in range(len(room_ids)))
                assert self.postgres is not None
                connection = await asyncpg.connect(self.postgres.url, timeout=5)
                try:
                    return [tuple(r) for r in await connection.fetch(sql.format(marks), *room_ids)]
                finally:
                    await connection.close()
            except (OSError, asyncpg.PostgresError, sqlite3.Error):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)  # the database is still coming back

    async def health(self, http: aiohttp.ClientSession) -> list[tuple[int, float]]:
        """(status, seconds to answer) of every web process's /healthz; 0 when no answer."""
        out = []
        for server in self.servers:
            started = time.monotonic()
            try:
                timeout = aiohttp.ClientTimeout(total=3)
                async with http.get(server.url + "/healthz", timeout=timeout) as response:
                    out.append((response.status, time.monotonic() - started))
            except (aiohttp.ClientError, TimeoutError):
                out.append((0, time.monotonic() - started))
        return out
