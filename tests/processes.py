"""The tests' child processes: `campfire serve` and arq workers, started and stopped by PID.

One way to start a child (`spawn`: log appended to a file in its working directory, ready when
its port accepts a connection) and one way to stop it (`stop_process`: a signal, a bounded wait,
SIGKILL if it lingers), shared by every fixture: the session's server, scale-out clusters, the
browser tests. A child never inherits the developer's `CAMPFIRE_*` or `REDIS_URL`: each test
says the configuration it runs under.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
CAMPFIRE = [sys.executable, "-m", "app.cli"]
# The supervised arq worker (jobs/supervise.py), as the Procfile runs it (`campfire worker`).
WORKER = [sys.executable, "-m", "jobs"]
START_TIMEOUT = 90.0  # seconds for a child to listen; imports alone take many under load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Passed on to every child: `CAMPFIRE_ENGINE_FAST_PATH=0 pytest ...` runs every server the
# tests start on python-socketio's stock path (docs/internals.md).
PASSED_ON = ("CAMPFIRE_ENGINE_FAST_PATH",)


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment without Campfire's settings (but PASSED_ON), plus
    `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_") or k in PASSED_ON}
    env.pop("REDIS_URL", None)
    # Tests sign in many people from 127.0.0.1; the sign-in throttle is off unless a test
    # sets it (the throttle's own tests do).
    env["CAMPFIRE_LOGIN_RATE"] = "0"
    env.update(overrides)
    return env


def spawn(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    port: int,
    *,
    cwd: Path = ROOT,
    timeout: float = START_TIMEOUT,
) -> subprocess.Popen[bytes]:
    """Start a child process and wait until it listens on `port` on 127.0.0.1.

    `campfire serve` opens its port only after the app's startup hooks ran, and an arq worker
    opens its metrics port at the end of its own startup, so listening means ready.
    """
    with log_path.open("ab") as log:
        log.write(
            f"\n===== {' '.join(command[-2:])} at {time.strftime('%H:%M:%S')} =====\n".encode()
        )
        log.flush()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}: {tail(log_path)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return process
            except OSError:
                time.sleep(0.05)  # polling a port that is not yet open, not synchronising
        raise RuntimeError(f"{command} did not listen on {port} in {timeout}s: {tail(log_path)}")
    except BaseException:
        # Not ready, or interrupted while waiting (pytest-timeout raises in here): the caller
        # never gets the process to stop, so stop it now rather than leave it running orphaned.
        stop_process(process, signal.SIGKILL, 5)
        raise


def stop_process(process: subprocess.Popen[Any], sig: int, timeout: float) -> int:
    """Signal a child we started (by its PID) and reap it, killing it if it lingers."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(5)


def terminate(process: subprocess.Popen[Any]) -> None:
    stop_process(process, signal.SIGTERM, 10)


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@dataclass
class ChildProcess:
    """A long-running child with its own working directory, environment and port."""

    kind: ClassVar[str] = "child"

    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # Seconds to wait for it to listen (the chaos harness, starved at nice 19 beside
    # benchmarks, gives a restart longer).
    start_timeout: float = START_TIMEOUT

    def command(self) -> list[str]:
        raise NotImplementedError

    def full_env(self) -> dict[str, str]:
        return child_env(self.env)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.kind}-{self.port}.log"

    def log_tail(self, chars: int = 4000) -> str:
        return tail(self.log_path, chars)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert self.process is None, f"{self.kind} is already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = spawn(
            self.command(), self.full_env(), self.log_path, self.port, timeout=self.start_timeout
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        """Stop the child (SIGTERM: a graceful shutdown) and return its exit code."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        return stop_process(process, sig, timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        """Stop and start again on the same port, database and environment."""
        self.stop()
        self.start()


@dataclass
class ServerProcess(ChildProcess):
    """One `campfire serve` on 127.0.0.1; SQLite in its working directory unless `env` says."""

    kind: ClassVar[str] = "serve"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [*CAMPFIRE, "serve"]

    def full_env(self) -> dict[str, str]:
        env = child_env(
            {
                "DATABASE_URL": f"sqlite:///{self.workdir / 'campfire.sqlite3'}",
                "CAMPFIRE_STORAGE_DIR": str(self.workdir / "storage"),
            }
        )
        env.update(self.env)
        env.update({"PORT": str(self.port), "HOST": "127.0.0.1"})
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`campfire ARGS...` with this server's environment; raises if it fails."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [*CAMPFIRE, *args],
            cwd=ROOT,
            env=self.full_env(),
            capture_output=True,
            text=True,
            timeout=180,  # a migration takes a minute at times on the shared, loaded machine
            check=True,
        )


@dataclass
class WorkerProcess(ChildProcess):
    """One `python -m jobs` (the supervised arq worker), with its metrics on its own port."""

    kind: ClassVar[str] = "worker"

    @property
    def metrics_port(self) -> int:
        return self.port

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def command(self) -> list[str]:
        return WORKER

    def full_env(self) -> dict[str, str]:
        # REDIS_URL comes with `env`: a worker has nothing to do without it.
        return child_env({**self.env, "CAMPFIRE_WORKER_METRICS_PORT": str(self.port)})
