"""Server CPU per reconnecting socket of two builds, side by side in one run.

Whole benchmark runs one after another differ by more than a change of 10% on this kind of
host (its speed drifts from minute to minute). Here two `campfire serve` processes, one per
checkout (`--a`, `--b`: paths of git worktrees sharing this virtualenv), run at once on the
same core with the same embedded setup (SQLite, no Redis); batches of `--batch` websockets
reconnect to one and then the other, alternating which goes first, each socket with a cursor
`--missed` messages behind, until its SyncComplete. A batch's figure is the server's CPU over
it divided by its sockets; the medians of `--batches` batches are compared.

    git worktree add /tmp/before <rev>
    PYTHONPATH=. .venv/bin/python bench/connect_ab.py --a /tmp/before --b . [--batches 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_inbox import (
    CAMPFIRE,
    EMAIL,
    PASSWORD,
    UNLIMITED,
    _storm,
    api,
    cpu_seconds,
    free_port,
    migrate_with_admin,
    seed_room,
)


class Server:
    """`campfire serve` of one checkout, on its own SQLite file, pinned to core 0."""

    def __init__(self, checkout: Path, workdir: Path, missed: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")}
        inherited.pop("REDIS_URL", None)
        self.env = {
            **inherited,
            "PYTHONPATH": str(checkout.resolve()),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            **UNLIMITED,
        }
        # The checkout as the working directory too: Alembic puts "." first on sys.path
        # (alembic.ini's prepend_sys_path), so the server's later imports (`jobs`) would
        # otherwise come from wherever this runs.
        self.cwd = checkout.resolve()
        migrate_with_admin(self.env, cwd=self.cwd)
        pinned = ["taskset", "-c", "0"] if shutil.which("taskset") else []
        self.log = open(workdir / "server.log", "wb")  # the server's, until it stops
        self.proc = subprocess.Popen([*pinned, CAMPFIRE, "serve"], env=self.env, cwd=self.cwd,
                                     stdout=self.log, stderr=self.log)  # fmt: skip
        try:
            self._seed(checkout, missed)
        except BaseException:
            self.stop()
            raise

    def _seed(self, checkout: Path, missed: int) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{checkout}: campfire serve did not come up") from None
                time.sleep(0.1)
        login = {"email_address": EMAIL, "password": PASSWORD}
        self.token = str(api("POST", f"{self.url}/api/session", login)["token"])
        room = seed_room(self.url, self.token, missed + 5)
        rooms = api("GET", f"{self.url}/api/rooms", token=self.token)["rooms"]
        self.cursors = {room: next(r["last_seq"] for r in rooms if r["id"] == room) - missed}

    def batch(self, sockets: int) -> float:
        """CPU ms per socket over one batch of reconnecting sockets."""
        before = cpu_seconds(self.proc.pid)
        asyncio.run(_storm(self.url, self.token, self.cursors, sockets))
        return (cpu_seconds(self.proc.pid) - before) * 1000 / sockets

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def measure(a: Path, b: Path, batches: int, batch: int, missed: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="campfire-connect-ab-"))
    servers: dict[str, Server] = {}
    try:
        for name, checkout in (("a", a), ("b", b)):
            (workdir / name).mkdir()
            servers[name] = Server(checkout, workdir / name, missed)
        for server in servers.values():
            server.batch(min(batch, 200))  # warm-up: imports, caches, the first connections
        figures: dict[str, list[float]] = {"a": [], "b": []}
        for k in range(batches):
            for name in ("a", "b") if k % 2 == 0 else ("b", "a"):
                figures[name].append(servers[name].batch(batch))
        medians = {name: statistics.median(values) for name, values in figures.items()}
        return {
            "a": str(a),
            "b": str(b),
            "batch": batch,
            "missed": missed,
            "ms_per_socket": figures,
            "median_ms_per_socket": medians,
            "b_over_a": medians["b"] / medians["a"] if medians["a"] else None,
        }
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", type=Path, required=True, help="checkout of the first build")
    ap.add_argument("--b", type=Path, required=True, help="checkout of the second build")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--missed", type=int, default=20)
    args = ap.parse_args()
    result = measure(args.a, args.b, args.batches, args.batch, args.missed)
    for name in ("a", "b"):
        values = ", ".join(f"{v:.2f}" for v in result["ms_per_socket"][name])
        print(f"{name} ({result[name]}): median {result['median_ms_per_socket'][name]:.3f} "
              f"ms of server CPU per reconnecting socket ({values})")  # fmt: skip
    print(f"b / a = {result['b_over_a']:.3f}")


if __name__ == "__main__":
    main()
