"""Private Redis and PostgreSQL servers that a test (or the chaos harness) may stop, kill and
restart: never the shared ones on 6379 and 5432. Each listens on loopback on a free port and
is stopped by its PID."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import free_port


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is not yet open
    raise RuntimeError(f"did not start listening on {port}: {log.read_text()[-2000:]}")


@dataclass
class PrivateRedis:
    """`redis-server` with no persistence: a restart loses every key, like a failover would."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self.workdir / f"redis-{self.port}.log"
        self.workdir.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
            stdout=out,
            stderr=out,
        )  # fmt: skip
        _wait_listening(self.port, self.process, log, 15)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(sig)
            self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self, down_for: float = 0.0) -> None:
        """Kill -9, stay down for `down_for` seconds (the outage), start again on the port."""
        self.kill()
        if down_for:
            time.sleep(down_for)  # the outage itself, not a synchronisation
        self.start()


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return Path(found[-1]).parent


@dataclass
class PrivatePostgres:
    """An `initdb` cluster in a temporary directory, trust auth, listening on loopback only."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    datadir: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/campfire"

    def init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Outside the (private) work directory: the server may have to run as another user.
        self.datadir = Path(tempfile.mkdtemp(prefix="campfire-pg-"))
        if _AS is not None:
            shutil.chown(self.datadir, _AS, _AS)
        subprocess.run(
            [
                str(postgres_bin() / "initdb"),
                "-D", str(self.datadir),
                "-U", "postgres",
                "--auth=trust",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            env=_pg_env(),
            user=_AS,
        )  # fmt: skip
        self.start()
        subprocess.run(
            [
                str(postgres_bin() / "createdb") if (postgres_bin() / "createdb").exists()
                else "createdb",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "campfire",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        assert self.datadir is not None
        log = self.workdir / f"postgres-{self.port}.log"
        out = log.open("ab")
        self.process = subprocess.Popen(
            [
                str(postgres_bin() / "postgres"),
                "-D", str(self.datadir),
                "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"unix_socket_directories={self.datadir}",
                "-c", "fsync=off",
                "-c", "max_connections=200",
                "-c", "shared_buffers=32MB",
            ],
            stdout=out,
            stderr=out,
            env=_pg_env(),
            user=_AS,
        )  # fmt: skip
        _wait_listening(self.port, self.process, log, 30)
        # Accepting TCP is not yet accepting queries while it recovers after a kill.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(postgres_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)  # polling readiness, not synchronising

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT is PostgreSQL's fast shutdown; SIGKILL of the postmaster leaves its backends,
        so a kill here is SIGQUIT (immediate shutdown: crash recovery on the next start)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGQUIT)

    def _family(self) -> list[int]:
        """The postmaster and its backends: a freeze must stop them all."""
        assert self.process is not None
        root = self.process.pid
        pids = [root]
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == root:
                pids.append(int(Path(stat).parent.name))
        return pids

    def freeze(self) -> None:
        """SIGSTOP every process of the server: sockets stay open, nothing answers."""
        for pid in self._family():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._family():
            os.kill(pid, signal.SIGCONT)

    def restart(self, down_for: float = 0.0) -> None:
        self.kill()
        if down_for:
            time.sleep(down_for)  # the outage itself, not a synchronisation
        self.start()

    def destroy(self) -> None:
        self.stop()
        if self.datadir is not None:
            shutil.rmtree(self.datadir, ignore_errors=True)


# initdb and postgres refuse to run as root: then they run as the `postgres` account.
_AS = "postgres" if os.geteuid() == 0 else None


def _pg_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PGDATA", None)
    return env


class StallProxy:
    """A TCP proxy on loopback, run on its own thread, that can be told to stall (hold every
    byte both ways, connections left open: a frozen server or a partitioned client), to go down
    (cut every connection and refuse new ones), to be slow (serve one request at a time, each
    after a delay: a saturated server) or to pass traffic again."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.mode = "open"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._resume: asyncio.Event | None = None
        self._delay = 0.0
        self._serial: asyncio.Lock | None = None

    def start(self) -> StallProxy:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._resume = asyncio.Event()
            self._resume.set()
            self._serial = asyncio.Lock()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, "127.0.0.1", self.port, backlog=4096)
            )
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"stall-proxy-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def _call(self, fn: Any) -> None:
        assert self._loop is not None
        done = threading.Event()

        def wrapped() -> None:
            try:
                fn()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(wrapped)
        done.wait(10)

    def stall(self) -> None:
        def apply() -> None:
            self.mode = "stalled"
            assert self._resume is not None
            self._resume.clear()

        self._call(apply)

    def down(self) -> None:
        def apply() -> None:
            self.mode = "down"
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._call(apply)

    def slow(self, delay: float) -> None:
        """Pass each chunk a client sends only after `delay` seconds, one chunk at a time over
        all connections (answers go back at once): a server that is saturated, as a
        single-threaded Redis or a database with one busy connection is, serves requests in
        turn, each taking `delay`."""

        def apply() -> None:
            self.mode = "slow"
            self._delay = delay
            assert self._resume is not None
            self._resume.set()

        self._call(apply)

    def open(self) -> None:
        def apply() -> None:
            self.mode = "open"
            assert self._resume is not None
            self._resume.set()

        self._call(apply)

    def close(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            for writer in list(self._writers):
                writer.transport.abort()
            if self._server is not None:
                self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer, upstream=True),
            self._pipe(up_reader, writer),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool = False
    ) -> None:
        assert self._resume is not None and self._serial is not None
        while True:
            data = await reader.read(65536)
            if not data:
                # Pass the end on: a client that closes and waits for the server's end (asyncpg's
                # close does) would otherwise wait for good.
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            await self._resume.wait()  # stalled: hold the bytes, keep the connection
            if self.mode == "down":
                return
            if upstream and self.mode == "slow":
                async with self._serial:  # one request at a time, over every connection
                    await asyncio.sleep(self._delay)  # the slowness itself, not a wait
            writer.write(data)
            await writer.drain()
