"""Soak: many connections for a long time, sampling what leaks.

`chaos/soak --minutes 30 --connections 2000` runs two web processes and a worker on a private
Redis and PostgreSQL with steady sends, typing, joins and leaves of open rooms and reconnects,
and samples every `--sample-seconds` (60): each process's RSS and open file descriptors, each
web process's asyncio tasks (`campfire_asyncio_tasks` on /metrics) and the Redis key count.
The first samples are warm-up (the first `--warmup-minutes`, default a third of the run up to 5
minutes); growth is the last sample against the first after warm-up, and must stay within
`--max-growth` (10%; tasks relative to at least the connections held). One JSON line per
sample, then a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from chaos.deploy import Deployment
from chaos.harness import SETTLE_WAIT, SYNC_WAIT, Driver, Options, populate
from tests.support import ADMIN_EMAIL, login, metric

SOAK_ENV = {
    "CAMPFIRE_PING_INTERVAL": "25",
    "CAMPFIRE_PING_TIMEOUT": "20",
    "CAMPFIRE_HEARTBEAT_SECONDS": "30",
    "CAMPFIRE_PRESENCE_STALE_SECONDS": "300",
    "CAMPFIRE_PRESENCE_SWEEP_SECONDS": "60",
    "CAMPFIRE_REPLAY_WAIT_SECONDS": "5",
    "CAMPFIRE_FANOUT_AUDIT_SECONDS": "5",
}
PING_DEADLINE_MS = 46_000  # ping interval + ping timeout, and a second of slack


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def sample(deployment: Deployment, http: aiohttp.ClientSession) -> dict[str, Any]:
    out: dict[str, Any] = {"t": round(time.time(), 1)}
    for i, server in enumerate(deployment.servers):
        assert server.process is not None
        pid = server.process.pid
        out[f"web{i}_rss_kb"] = rss_kb(pid)
        out[f"web{i}_fds"] = open_fds(pid)
        out[f"web{i}_tasks"] = await metric(http, server.url, "campfire_asyncio_tasks")
        out[f"web{i}_connections"] = await metric(http, server.url, "campfire_active_connections")
    if deployment.worker is not None and deployment.worker.process is not None:
        out["worker_rss_kb"] = rss_kb(deployment.worker.process.pid)
        out["worker_fds"] = open_fds(deployment.worker.process.pid)
    if deployment.redis is not None:
        client = aioredis.Redis.from_url(deployment.redis.url)
        try:
            out["redis_keys"] = await client.dbsize()
        finally:
            await client.aclose()
    return out


def growth(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, float]:
    """Each figure's growth from the first sample after warm-up to the last, relative to its
    value then; a web process's tasks relative to at least the connections it holds: since
    idle connections have no task (engineio_seam/owned.py) a process runs a dozen tasks, and
    three more would read as +25%, where a leak adds one per connection, or per event."""
    start = samples[0]["t"]
    settled = [s for s in samples if s["t"] - start >= warmup_s] or samples[-1:]
    base, last = settled[0], samples[-1]
    out = {}
    for key, value in base.items():
        if key == "t" or key.endswith("_connections") or not isinstance(value, int | float):
            continue
        scale = value
        if key.endswith("_tasks"):
            scale = max(value, base.get(key.removesuffix("_tasks") + "_connections") or 0)
        out[key] = round((last[key] - value) / scale, 3) if scale else 0.0
    return out


def per_connection(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, float]:
    """Growth of each web process's RSS, fds and tasks per connection it holds, and of the
    Redis keys per connection registered in all: connections move between processes and
    come and go with reconnects, so raw counts follow them; a leak grows per connection."""

    def ratios(s: dict[str, Any]) -> dict[str, float]:
        out = {}
        total = sum(v for k, v in s.items() if k.endswith("_connections"))
        for key, value in s.items():
            if key.startswith("web") and not key.endswith("_connections"):
                conns = s.get(key.split("_", 1)[0] + "_connections") or 0
                if conns:
                    out[key + "_per_conn"] = value / conns
        if total and "redis_keys" in s:
            out["redis_keys_per_conn"] = s["redis_keys"] / total
        return out

    start = samples[0]["t"]
    settled = [s for s in samples if s["t"] - start >= warmup_s] or samples[-1:]
    base, last = ratios(settled[0]), ratios(samples[-1])
    return {k: round((last[k] - v) / v, 3) for k, v in base.items() if k in last and v}


async def task_dumps(deployment: Deployment, workdir: Path, label: str) -> dict[str, Any]:
    """Each web process's task dump (app/debug_tasks.py; SIGUSR1, written to its file)."""
    out: dict[str, Any] = {}
    for i, server in enumerate(deployment.servers):
        assert server.process is not None
        path = workdir / f"tasks-{server.process.pid}.json"
        path.unlink(missing_ok=True)
        os.kill(server.process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 60  # a starved process may take a while to run it
        while not path.exists() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # polling another process's file: no event to wait on
        if path.exists():
            out[f"web{i}"] = json.loads(path.read_text())
            path.rename(workdir / f"tasks-{label}-web{i}.json")
    return out


async def soak(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="soak-", dir=args.workdir))
    # The deployment's default liveness intervals, not the scenarios' short ones: with a 5 s
    # ping timeout and a 30 s presence staleness, a process starved at nice 19 for a few
    # seconds dropped most of the 2,000 sockets at once (a soak measures leaks, not faults).
    # Each web process writes its task dump to a file of its own, named by its process id.
    overrides = {**SOAK_ENV, "CAMPFIRE_DEBUG_TASK_DUMP": str(workdir / "tasks-{pid}.json")}
    deployment = Deployment(args.deployment, workdir, overrides=overrides)
    options = Options(
        clients=args.connections, campfire_share=0.0, rooms=args.rooms, tabs=args.tabs
    )
    driver: Driver | None = None
    samples: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"event": "summary", "connections": args.connections}
    try:
        await asyncio.to_thread(deployment.start)
        async with aiohttp.ClientSession() as http:
            users, _ = await populate(http, deployment.servers[0].url, options)
            admin = await login(http, deployment.servers[0].url, ADMIN_EMAIL)
            open_rooms = [(await admin.create_room(f"open-{i}", "open"))["id"] for i in range(4)]
            urls = [s.url for s in deployment.servers]
            specs = [
                {"kind": "raw", "user_id": users[i % len(users)]["id"],
                 "token": users[i % len(users)]["token"], "rooms": users[i % len(users)]["rooms"],
                 "urls": [urls[i % len(urls)], *urls]}
                for i in range(args.connections)
            ]  # fmt: skip
            config = {
                "clients": specs,
                "send_interval_ms": args.send_interval_ms,
                "tick_ms": 100,
                "ack_timeout_ms": 10_000,
                "ping_deadline_ms": PING_DEADLINE_MS,
                # 2,000 handshakes in 100 s: a faster storm saturated both web processes on
                # the shared machine (upgrades answered after the clients' timeout, retried).
                "connect_spread_ms": args.connections * 50,
                "connect_timeout_ms": 30_000,
                "gap_fill_delay_ms": 3000,
                "extras": {
                    "open_rooms": open_rooms,
                    "typing_per_second": 0.02,
                    "join_leave_per_second": 0.005,
                    "reconnect_per_second": 0.002,
                },
            }
            driver = await Driver.start(config, workdir)
            synced = await driver.wait("synced", SYNC_WAIT)
            summary["all_connected"] = synced is not None
            deadline = time.monotonic() + args.minutes * 60
            while True:
                samples.append(await sample(deployment, http))
                print(json.dumps({"event": "sample", **samples[-1]}), flush=True)
                last = time.monotonic() >= deadline
                # A dump at every sample (small), so that what grows can be followed.
                label = "last" if last else "first" if len(samples) == 1 else str(len(samples))
                dumps = await task_dumps(deployment, workdir, label)
                print(json.dumps({"event": f"tasks_{label}", **dumps}), flush=True)
                if last:
                    break
                await asyncio.sleep(min(args.sample_seconds, max(0.0, deadline - time.monotonic())))
            driver.send(cmd="stop")
            await driver.wait("drained", SETTLE_WAIT)
            driver.send(cmd="report")
            report = await driver.wait("report", SETTLE_WAIT)
            if report:
                clients = report["clients"]
                summary["messages_acked"] = sum(len(c["acked"]) for c in clients)
                summary["reconnects"] = sum(c["reconnects"] for c in clients)
                summary["pending_left"] = sum(len(c["pending"]) for c in clients)
        warmup = (
            args.warmup_minutes * 60
            if args.warmup_minutes is not None
            else min(300.0, args.minutes * 60 / 3)
        )
        summary["samples"] = len(samples)
        summary["warmup_seconds"] = warmup
        summary["growth"] = growth(samples, warmup) if samples else {}
        # Informational: the criterion stays the raw growth (a leak shows in both).
        summary["growth_per_connection"] = per_connection(samples, warmup) if samples else {}
        summary["workdir"] = str(workdir)
        summary["crashed"] = deployment.crashed()
        summary["ok"] = bool(
            samples
            and not summary["crashed"]
            and all(g <= args.max_growth for g in summary["growth"].values())
        )
    except Exception as exc:
        summary.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        if driver is not None:
            await driver.close()
        await asyncio.to_thread(deployment.stop)
    print(json.dumps(summary), flush=True)
    return 0 if summary.get("ok") else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos/soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--rooms", type=int, help="default: one per user, at least 12")
    parser.add_argument("--tabs", type=int, default=10, help="connections per user")
    # Per connection: a user with ten tabs sends ten times as often. 2,000 connections at one
    # send a minute each are 33 sends and ~1,000 socket deliveries a second.
    parser.add_argument("--send-interval-ms", type=int, default=60_000)
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--warmup-minutes", type=float)
    parser.add_argument("--max-growth", type=float, default=0.10)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--deployment", choices=["cluster", "single"], default="cluster",
        help="two web processes, a worker, Redis and PostgreSQL; or one process on SQLite",
    )  # fmt: skip
    return asyncio.run(soak(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
