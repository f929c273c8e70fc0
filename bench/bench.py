"""Campfire benchmark harness: starts the servers, seeds users and rooms, drives the Node load
generator (bench/loadgen) through every scenario, and prints one JSON document.

Run it as `bench/run [--quick | --smoke] [--only SCENARIOS] [--targets TARGETS]`; see
docs/benchmarks.md. Everything talks to 127.0.0.1 only, every count and duration is bounded,
and every process this script starts is stopped by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOADGEN = BENCH / "loadgen" / "loadgen.js"
PASSWORD = "bench-password-1"
ADMIN_EMAIL = "bench-admin@bench.invalid"

SCENARIOS = ["idle", "fanout", "latency", "writes", "storm", "redis", "http", "bigroom"]
# Only when asked for (--only): 50,000 idle connections in one process and 10,000 sockets
# reconnecting at once (bench/scenarios_conns.py) need raised fd limits and minutes; one room
# of 10,000 distinct members (bench/scenarios_bigroom.py) needs minutes to seed and connect.
# writes-pg (bench/scenarios_writes_pg.py) needs a PostgreSQL server on 127.0.0.1:5432.
EXTRA_SCENARIOS = ["idle50k", "storm10k", "bigroom-distinct", "writes-pg"]
# Ephemeral ports from one source address towards one server port (Linux's default range is
# 32768-60999): past this many sockets the load generator uses 127.0.0.2, 127.0.0.3, ...
SOCKETS_PER_SOURCE_ADDRESS = 25_000
TARGETS = ["campfire", "bare", "node"]

# Offered deliveries/s for the fan-out sweeps. A sweep stops at the first step that fails.
FULL_STEPS = [
    1_000,
    2_500,
    5_000,
    10_000,
    15_000,
    20_000,
    30_000,
    40_000,
    50_000,
    60_000,
    80_000,
    100_000,
]
# The Redis sweeps with every web process capped at `redis_cap` of a CPU: finer steps, so that
# the 1- and 2-process ceilings (a ratio) are read to within a few percent.
CAPPED_STEPS = [*range(2_500, 20_000, 2_500), *range(20_000, 62_500, 2_500)]
CAPPED_CONNECT_CONCURRENCY = 16

PROFILES: dict[str, dict[str, Any]] = {
    # The scenario of the issue: 10 rooms x 100 sockets, one sender per room.
    "full": {
        "users": 200,
        "tabs": 5,
        "rooms": 10,
        "steps": FULL_STEPS,
        "step_warmup_s": 1,
        "step_s": 4,
        "latency_rate": 20_000,
        "latency_warmup_s": 3,
        "latency_s": 15,
        "idle_connections": 10_000,
        "idle_hold_s": 30,
        "idle_connect_budget_s": 60,
        "writers": 200,
        "write_window": 4,
        "write_warmup_s": 2,
        "write_s": 10,
        "storm_missed": 20,
        "storm_deadline_s": 5,
        "connect_concurrency": 200,
        "workers": 1,
        "idle_workers": 2,
        # 0.2: four capped processes (0.8 of a CPU) fit on core 0 beside Redis and the worker
        "redis_cap": 0.2,
        "redis_capped_processes": [1, 2, 4],
        "idle_many_connections": 50_000,
        "idle_many_budget_s": 180,
        "storm_many_sockets": 10_000,
        "storm_many_timeout_s": 120,
        "redis_steps": CAPPED_STEPS,
        # issue 16: the history page (bench/scenarios_http.py) and one big room
        # (bench/scenarios_bigroom.py) of 10,000 sockets: 200 members x 50 tabs
        "http_workers": 2,
        "http_connections": 32,
        "http_warmup_s": 2,
        "http_s": 10,
        "bigroom_sockets": 10_000,
        "bigroom_members": 200,
        # the bigroom-distinct variant: as many members as sockets, one socket each
        "bigroom_distinct_sockets": 10_000,
        "bigroom_steps": [10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000],
        "bigroom_warmup_s": 2,
        "bigroom_step_s": 5,
        "bigroom_workers": 2,
    },
    "quick": {
        "users": 40,
        "tabs": 5,
        "rooms": 10,
        "steps": [1_000, 2_500, 5_000, 10_000, 20_000, 40_000],
        "step_warmup_s": 0.5,
        "step_s": 2,
        "latency_rate": 20_000,
        "latency_warmup_s": 1,
        "latency_s": 4,
        "idle_connections": 1_000,
        "idle_hold_s": 3,
        "idle_connect_budget_s": 60,
        "writers": 40,
        "write_window": 4,
        "write_warmup_s": 0.5,
        "write_s": 3,
        "storm_missed": 20,
        "storm_deadline_s": 5,
        "connect_concurrency": 200,
        "workers": 1,
        "idle_workers": 1,
        "redis_cap": 0.2,
        "redis_capped_processes": [1, 2, 4],
        "idle_many_connections": 50_000,
        "idle_many_budget_s": 180,
        "storm_many_sockets": 10_000,
        "storm_many_timeout_s": 120,
        "redis_steps": [2_500, 5_000, 10_000, 15_000, 20_000, 30_000, 40_000],
        "http_workers": 1,
        "http_connections": 16,
        "http_warmup_s": 1,
        "http_s": 3,
        "bigroom_sockets": 1_000,
        "bigroom_members": 100,
        "bigroom_distinct_sockets": 2_000,
        "bigroom_steps": [5_000, 10_000, 20_000, 40_000],
        "bigroom_warmup_s": 1,
        "bigroom_step_s": 3,
        "bigroom_workers": 1,
    },
    # A few seconds, small numbers: keeps the harness working (tests/test_bench_smoke.py).
    "smoke": {
        "users": 4,
        "tabs": 2,
        "rooms": 2,
        "steps": [200],
        "step_warmup_s": 0.2,
        "step_s": 1,
        "latency_rate": 200,
        "latency_warmup_s": 0.2,
        "latency_s": 1,
        "idle_connections": 8,
        "idle_hold_s": 0.5,
        "idle_connect_budget_s": 30,
        "writers": 4,
        "write_window": 2,
        "write_warmup_s": 0,
        "write_s": 1,
        "storm_missed": 3,
        "storm_deadline_s": 5,
        "connect_concurrency": 20,
        "workers": 1,
        "idle_workers": 1,
        "redis_cap": 0.2,
        "redis_capped_processes": [1, 2],
        "idle_many_connections": 16,
        "idle_many_budget_s": 30,
        "storm_many_sockets": 16,
        "storm_many_timeout_s": 30,
        "redis_steps": [200],
        "http_workers": 1,
        "http_connections": 4,
        "http_warmup_s": 0.2,
        "http_s": 1,
        "bigroom_sockets": 8,
        "bigroom_members": 8,
        "bigroom_distinct_sockets": 8,
        "bigroom_steps": [200],
        "bigroom_warmup_s": 0.2,
        "bigroom_step_s": 1,
        "bigroom_workers": 1,
    },
}


def log(*parts: object) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(cpu: str | None) -> list[str]:
    if cpu is None or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", cpu]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int | None = None
    logfile: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {timeout}s; killing PID {self.pid}")
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


@dataclass
class Harness:
    args: argparse.Namespace
    profile: dict[str, Any]
    workdir: Path
    campfire: list[str]
    python: str
    started: list[Proc] = field(default_factory=list)
    failed_logs: list[Path | None] = field(default_factory=list)

    def spawn(
        self, name: str, cmd: list[str], env: dict[str, str], port: int | None, cpu: str | None
    ) -> Proc:
        logfile = self.workdir / f"{name}-{len(self.started)}.log"
        with open(logfile, "wb") as out:
            popen = subprocess.Popen(
                pin(cpu if self.args.pin else None) + cmd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                preexec_fn=raise_nofile,
            )
        proc = Proc(name, popen, port, logfile)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        code = proc.stop()
        if proc in self.started:
            self.started.remove(proc)
        if code not in (0, -signal.SIGTERM, None):
            self.failed_logs.append(proc.logfile)
            tail = proc.logfile.read_text(errors="replace")[-2000:] if proc.logfile else ""
            log(f"{proc.name} (PID {proc.pid}) exited with {code}; log {proc.logfile}:\n{tail}")

    def stop_all(self) -> None:
        for proc in reversed(list(self.started)):
            self.stop(proc)

    def wait_healthy(self, proc: Proc, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                tail = proc.logfile.read_text(errors="replace")[-3000:] if proc.logfile else ""
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{proc.url}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not become healthy in {timeout}s")

    # ---------------------------------------------------------- campfire

    def campfire_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PORT", "HOST")}
        env.update(
            {
                "HOST": "127.0.0.1",
                "DATABASE_URL": f"sqlite:///{self.workdir / 'db.sqlite3'}",
                "CAMPFIRE_MESSAGE_RATE": "0",
                "CAMPFIRE_CONNECT_RATE": "0",
                "CAMPFIRE_LOGIN_RATE": "0",
                "CAMPFIRE_TYPING_RATE": "0",
                "CAMPFIRE_MAX_CONNECTIONS": "30000",
                "CAMPFIRE_MAX_CONNECTIONS_PER_USER": str(self.profile["tabs"] + 1),
                "CAMPFIRE_LOG": "warning",
            }
        )
        # The checkout's own code, not whatever the virtualenv's editable install points at:
        # a worktree sharing another checkout's .venv would otherwise measure that one.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        env.update(extra)
        return env

    def start_campfire(self, cpu: str | None = "0", name: str = "campfire", **env: str) -> Proc:
        port = free_port()
        proc = self.spawn(
            name, [*self.campfire, "serve"], self.campfire_env(PORT=str(port), **env), port, cpu
        )
        self.wait_healthy(proc)
        return proc

    def cli(self, *argv: str) -> str:
        out = subprocess.run(
            [*self.campfire, *argv],
            env=self.campfire_env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"campfire {' '.join(argv)} failed: {out.stderr[-2000:]}")
        return out.stdout

    # ---------------------------------------------------------- load generator

    def loadgen(self, config: dict[str, Any], server_pids: list[int]) -> dict[str, Any]:
        config = {
            "clk_tck": os.sysconf("SC_CLK_TCK"),
            "server_pids": server_pids,
            "client": self.args.client,
            "deflate": self.args.deflate == "offer",
            "max_runtime_s": 600,
            **config,
        }
        name = f"{config['target']}-{config['label']}"
        path = self.workdir / f"loadgen-{name}.json"
        path.write_text(json.dumps(config))
        cmd = [
            *pin(self.args.loadgen_cpu if self.args.pin else None),
            "node",
            str(LOADGEN),
            str(path),
        ]
        log(f"running {name} ({len(config['clients'])} connections)")
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=raise_nofile
        )
        try:
            out, _ = proc.communicate(timeout=config["max_runtime_s"] + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        path.unlink(missing_ok=True)  # it holds session tokens
        lines = [line for line in out.decode().splitlines() if line.startswith("{")]
        if not lines:
            return {"scenario": config["scenario"], "error": f"loadgen exited {proc.returncode}"}
        result: dict[str, Any] = json.loads(lines[-1])
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        if config.get("pinned_note"):
            result["placement"] = config["pinned_note"]
        return result


# ---------------------------------------------------------------- HTTP API


def api(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {url}: {exc.code} {exc.read()[:500]!r}") from exc
    return json.loads(raw) if raw else None


@dataclass
class Seed:
    admin_token: str
    users: list[dict[str, str]]  # {id, token}
    fanout_rooms: list[str]
    writer_rooms: list[str]  # writer_rooms[i] belongs to users[i]

    def room_of(self, i: int) -> str:
        per = len(self.users) // len(self.fanout_rooms)
        return self.fanout_rooms[min(i // per, len(self.fanout_rooms) - 1)]


def seed(h: Harness, url: str) -> Seed:
    p = h.profile
    t0 = time.monotonic()
    h.cli(
        "user", "create", "--name", "Bench Admin", "--email", ADMIN_EMAIL,
        "--password", PASSWORD, "--admin",
    )  # fmt: skip
    admin = api("POST", f"{url}/api/session", {"email_address": ADMIN_EMAIL, "password": PASSWORD})
    atok = admin["token"]
    n = p["users"]

    def make_user(i: int) -> dict[str, str]:
        email = f"bench-user-{i}@bench.invalid"
        user = api(
            "POST",
            f"{url}/api/users",
            {"name": f"Bench User {i}", "email_address": email, "password": PASSWORD},
            atok,
        )["user"]
        sess = api("POST", f"{url}/api/session", {"email_address": email, "password": PASSWORD})
        return {"id": user["id"], "token": sess["token"]}

    # argon2 hashing dominates here (two hashes per user); the server runs them in threads.
    with ThreadPoolExecutor(8) as pool:
        users = list(pool.map(make_user, range(n)))
    log(f"created {n} users with sessions in {time.monotonic() - t0:.1f}s")
    per = n // p["rooms"]
    fanout_rooms = []
    for r in range(p["rooms"]):
        members = [u["id"] for u in users[r * per : (r + 1) * per]]
        room = api(
            "POST", f"{url}/api/rooms",
            {"name": f"fanout-{r}", "kind": "open", "member_ids": members}, atok,
        )["room"]  # fmt: skip
        fanout_rooms.append(room["id"])

    def make_writer_room(i: int) -> str:
        body = {"name": f"writes-{i}", "kind": "open", "member_ids": [users[i]["id"]]}
        return str(api("POST", f"{url}/api/rooms", body, atok)["room"]["id"])

    with ThreadPoolExecutor(8) as pool:
        writer_rooms = list(pool.map(make_writer_room, range(min(n, p["writers"]))))
    log(f"seeded in {time.monotonic() - t0:.1f}s")
    return Seed(atok, users, fanout_rooms, writer_rooms)


def schema_key() -> str:
    digest = hashlib.sha1()
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def seed_cached(h: Harness) -> Seed:
    """Seed a fresh database, or copy one seeded earlier with the same profile and schema.

    Seeding is argon2-bound (a hash per user created and another per login: about 0.35 s of
    CPU per user here), so the seeded database and its session tokens are kept under
    bench/results/seed-cache/ and copied into each run's own directory. Every run still
    starts from the same just-seeded state; --fresh seeds anew.
    """
    p = h.profile
    key = f"u{p['users']}-r{p['rooms']}-w{min(p['users'], p['writers'])}-{schema_key()}"
    cache = BENCH / "results" / "seed-cache"
    db = h.workdir / "db.sqlite3"
    meta = cache / f"{key}.json"
    if not h.args.fresh and meta.exists() and (cache / f"{key}.sqlite3").exists():
        shutil.copyfile(cache / f"{key}.sqlite3", db)
        if (cache / f"{key}.sqlite3-wal").exists():
            shutil.copyfile(cache / f"{key}.sqlite3-wal", h.workdir / "db.sqlite3-wal")
        cached = Seed(**json.loads(meta.read_text()))
        proc = h.start_campfire(cpu=None, name="campfire-seed-check")
        try:
            api("GET", f"{proc.url}/api/me", token=cached.users[-1]["token"])
            log(f"reusing seeded database {key} (--fresh to seed anew)")
            return cached
        except Exception as exc:
            log(f"cached seed {key} unusable ({exc}); seeding anew")
        finally:
            h.stop(proc)
        for f in h.workdir.glob("db.sqlite3*"):
            f.unlink()
    proc = h.start_campfire(cpu=None, name="campfire-setup")
    try:
        fresh = seed(h, proc.url)
    finally:
        h.stop(proc)
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(db, cache / f"{key}.sqlite3")
    wal = h.workdir / "db.sqlite3-wal"
    (cache / f"{key}.sqlite3-wal").unlink(missing_ok=True)
    if wal.exists():
        shutil.copyfile(wal, cache / f"{key}.sqlite3-wal")
    meta.write_text(json.dumps(fresh.__dict__))
    return fresh


def server_metrics(url: str) -> dict[str, Any]:
    """Campfire's own view from GET /metrics: mean of each latency histogram, counters."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return {"error": str(exc)}
    sums: dict[str, float] = {}
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith("campfire_"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            number = float(value)
        except ValueError:
            continue
        if "_bucket" in name or "_created" in name:
            continue
        if name.endswith("_seconds_sum"):
            sums[name[: -len("_sum")]] = number
        elif name.endswith("_seconds_count"):
            base = name[: -len("_count")]
            out[f"{base}_count"] = number
        elif number:
            out[name] = number
    for base, total in sums.items():
        count = out.get(f"{base}_count") or 0
        out[f"{base.removesuffix('_seconds')}_mean_ms"] = (
            round(total / count * 1000, 2) if count else None
        )
    return out


def cursors(url: str, s: Seed) -> dict[str, int]:
    """The latest seq of every room, so that clients connect without a replay."""

    def latest(room: str) -> tuple[str, int]:
        msgs = api("GET", f"{url}/api/rooms/{room}/messages?limit=1", token=s.admin_token)
        return room, (msgs["messages"][-1]["seq"] if msgs["messages"] else 0)

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(latest, s.fanout_rooms + s.writer_rooms))


# ---------------------------------------------------------------- client lists


def campfire_fanout_clients(
    s: Seed, tabs: int, seqs: dict[str, int], url_count: int = 1, by_room: bool = False
):
    """`by_room`: every socket of a room (and its sender) on the same web process, rooms
    spread over the processes (--redis-placement room)."""
    clients = []
    per = len(s.users) // len(s.fanout_rooms)
    for i, user in enumerate(s.users[: per * len(s.fanout_rooms)]):
        room = s.room_of(i)
        mine = [room] + ([s.writer_rooms[i]] if i < len(s.writer_rooms) else [])
        for t in range(tabs):
            clients.append(
                {
                    "token": user["token"],
                    "user_id": user["id"],
                    "rooms": [room],
                    "last_seen": {r: seqs.get(r, 0) for r in mine},
                    "send_room": room if (i % per == 0 and t == 0) else None,
                    # Alternate sockets between the web processes, and each room's sender
                    # with its room: every process gets senders, not only the first one.
                    "url_index": (
                        (i // per) % url_count if by_room else (len(clients) + i // per) % url_count
                    ),
                }
            )
    return clients


def peer_fanout_clients(rooms: int, per_room: int) -> list[dict[str, Any]]:
    return [
        {"rooms": [f"room-{r}"], "send_room": f"room-{r}" if m == 0 else None}
        for r in range(rooms)
        for m in range(per_room)
    ]


def steps(p: dict[str, Any], values: list[int]) -> list[dict[str, Any]]:
    return [
        {"offered": v, "warmup_s": p["step_warmup_s"], "duration_s": p["step_s"]} for v in values
    ]


# ---------------------------------------------------------------- scenarios


def run_fanout(h: Harness, target: str, s: Seed | None, label: str = "fanout") -> dict[str, Any]:
    p = h.profile
    sweep = steps(p, p["steps"])
    if label == "latency":
        sweep = [
            {
                "offered": p["latency_rate"],
                "warmup_s": p["latency_warmup_s"],
                "duration_s": p["latency_s"],
            }
        ]
    base = {
        "scenario": "fanout",
        "label": label,
        "target": target,
        "workers": p["workers"],
        "steps": sweep,
        "stop_on_fail": label != "latency",
        "connect_concurrency": p["connect_concurrency"],
    }
    if target == "campfire":
        assert s is not None
        proc = h.start_campfire()
        try:
            clients = campfire_fanout_clients(s, p["tabs"], cursors(proc.url, s))
            result = h.loadgen(
                {**base, "mode": "campfire", "urls": [proc.url], "clients": clients}, [proc.pid]
            )
            result["server_metrics"] = server_metrics(proc.url)
            return result
        finally:
            h.stop(proc)
    proc = start_peer(h, target)
    try:
        per_room = p["users"] * p["tabs"] // p["rooms"]
        clients = peer_fanout_clients(p["rooms"], per_room)
        return h.loadgen(
            {**base, "mode": "peer", "urls": [proc.url], "clients": clients}, [proc.pid]
        )
    finally:
        h.stop(proc)


def start_peer(h: Harness, target: str) -> Proc:
    port = free_port()
    env = dict(os.environ)
    if target == "bare":
        cmd = [h.python, str(BENCH / "peers" / "bare_socketio.py"), str(port)]
    else:
        cmd = ["node", str(BENCH / "peers" / "node_socketio.js"), str(port)]
    proc = h.spawn(f"peer-{target}", cmd, env, port, "0")
    h.wait_healthy(proc)
    return proc


def source_address(k: int, total: int) -> dict[str, str]:
    """The k-th socket's source address when `total` would exhaust one address's ports."""
    if total <= SOCKETS_PER_SOURCE_ADDRESS:
        return {}
    return {"local_address": f"127.0.0.{2 + k // SOCKETS_PER_SOURCE_ADDRESS}"}


def run_idle(h: Harness, target: str, s: Seed | None, label: str = "idle") -> dict[str, Any]:
    p = h.profile
    total = p["idle_connections"]
    base = {
        "scenario": "idle",
        "label": label,
        "target": target,
        "workers": p["idle_workers"],
        "hold_s": p["idle_hold_s"],
        "settle_s": 2 if total > 100 else 0.5,
        "connect_concurrency": p["connect_concurrency"],
        "connect_timeout_s": 120,
        "connect_budget_s": p["idle_connect_budget_s"],
    }
    if target == "campfire":
        assert s is not None
        per_user = math.ceil(total / len(s.users))
        proc = h.start_campfire(
            CAMPFIRE_MAX_CONNECTIONS_PER_USER=str(per_user + 1),
            CAMPFIRE_MAX_CONNECTIONS=str(max(30_000, total + 100)),
        )
        try:
            seqs = cursors(proc.url, s)
            clients = []
            for k in range(total):
                i = k % len(s.users)
                mine = [s.room_of(i)] + ([s.writer_rooms[i]] if i < len(s.writer_rooms) else [])
                clients.append(
                    {
                        "token": s.users[i]["token"],
                        "user_id": s.users[i]["id"],
                        "rooms": [],
                        "last_seen": {r: seqs.get(r, 0) for r in mine},
                        **source_address(k, total),
                    }
                )
            result = h.loadgen(
                {**base, "mode": "campfire", "urls": [proc.url], "clients": clients}, [proc.pid]
            )
            result["users"] = len(s.users)
            result["connections_per_user"] = per_user
            result["server_metrics"] = server_metrics(proc.url)
            return result
        finally:
            h.stop(proc)
    proc = start_peer(h, target)
    try:
        clients = [
            {"rooms": [f"room-{k % p['rooms']}"], **source_address(k, total)} for k in range(total)
        ]
        return h.loadgen(
            {**base, "mode": "peer", "urls": [proc.url], "clients": clients}, [proc.pid]
        )
    finally:
        h.stop(proc)


def run_writes(h: Harness, s: Seed) -> dict[str, Any]:
    p = h.profile
    proc = h.start_campfire()
    try:
        seqs = cursors(proc.url, s)
        clients = []
        for i, room in enumerate(s.writer_rooms):
            mine = [s.room_of(i), room]
            clients.append(
                {
                    "token": s.users[i]["token"],
                    "user_id": s.users[i]["id"],
                    "rooms": [room],
                    "last_seen": {r: seqs.get(r, 0) for r in mine},
                    "send_room": room,
                }
            )
        cfg = {
            "scenario": "writes",
            "label": "writes",
            "target": "campfire",
            "mode": "campfire",
            "workers": p["workers"],
            "urls": [proc.url],
            "clients": clients,
            "window": p["write_window"],
            "warmup_s": p["write_warmup_s"],
            "duration_s": p["write_s"],
            "connect_concurrency": p["connect_concurrency"],
        }
        result = h.loadgen(cfg, [proc.pid])
        result["server_metrics"] = server_metrics(proc.url)
        return result
    finally:
        h.stop(proc)


def run_storm(h: Harness, s: Seed, label: str = "storm") -> dict[str, Any]:
    """`label` storm10k: h.profile's `tabs` is set for ~10,000 sockets (scenarios_conns)."""
    p = h.profile
    proc = h.start_campfire()
    try:
        seqs = cursors(proc.url, s)
        clients = campfire_fanout_clients(s, p["tabs"], seqs)
        for c in clients:
            c["send_room"] = None
            c["role"] = "member"
        per = len(s.users) // len(s.fanout_rooms)
        for r, room in enumerate(s.fanout_rooms):
            i = r * per  # the room's first member posts while the others are away
            mine = [room] + ([s.writer_rooms[i]] if i < len(s.writer_rooms) else [])
            clients.append(
                {
                    "token": s.users[i]["token"],
                    "user_id": s.users[i]["id"],
                    "rooms": [room],
                    "last_seen": {r: seqs.get(r, 0) for r in mine},
                    "send_room": room,
                    "role": "sender",
                }
            )
        cfg = {
            "scenario": "storm",
            "label": label,
            "target": "campfire",
            "mode": "campfire",
            "workers": p["workers"],
            "urls": [proc.url],
            "clients": clients,
            "missed": p["storm_missed"],
            "deadline_s": p["storm_deadline_s"],
            "connect_concurrency": p["connect_concurrency"],
            "storm_timeout_s": p.get("storm_timeout_s", 30),
            "connect_timeout_s": p.get("storm_timeout_s", 60),
        }
        result = h.loadgen(cfg, [proc.pid])
        result["server_metrics"] = server_metrics(proc.url)
        return result
    finally:
        h.stop(proc)


def start_redis(h: Harness) -> tuple[Proc, str]:
    server = shutil.which("redis-server")
    if not server:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    cmd = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = h.spawn("redis", cmd, dict(os.environ), port, None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as c:
            c.sendall(b"PING\r\n")
            if c.recv(16).startswith(b"+PONG"):
                # DB 7: its own database number, never the default one
                return proc, f"redis://127.0.0.1:{port}/7"
        time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def worker_command(h: Harness) -> list[str] | None:
    """The arq worker from the Procfile, which REDIS_URL mode needs for backfill jobs."""
    procfile = ROOT / "Procfile"
    if not procfile.exists():
        return None
    for line in procfile.read_text().splitlines():
        if line.startswith("worker:"):
            argv = line.split(":", 1)[1].split()
            exe = Path(h.python).parent / argv[0]
            return [str(exe) if exe.exists() else argv[0], *argv[1:]]
    return None


CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")


def cap_cpu(pid: int, share: float, name: str) -> Path | None:
    """Cap process `pid` (and its threads) at `share` of one CPU with a cgroup of its own;
    None where the machine does not allow it (not root, no cpu controller)."""
    # A short period (10 ms, the kernel's default is 100 ms): a capped process is held back
    # in small steps rather than frozen for most of 100 ms, which would show as latency.
    period = 10_000
    quota = int(share * period)
    try:
        if (CGROUP_V1_CPU / "cgroup.procs").exists():
            group = CGROUP_V1_CPU / name
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        elif "cpu" in (CGROUP_V2 / "cgroup.controllers").read_text().split():
            group = CGROUP_V2 / name
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {period}")
        else:
            return None
        (group / "cgroup.procs").write_text(str(pid))
        return group
    except OSError as exc:
        log(f"cannot cap CPU with a cgroup ({exc}); the capped Redis variant is skipped")
        return None


def run_redis(h: Harness, s: Seed) -> dict[str, Any]:
    """Fan-out sweep through Redis with one web process, then with two; twice: first with a
    core for each web process (on 2 cores the machine, not Campfire, then sets the ceiling:
    the load generator and Redis need CPU too), then with every web process capped at the
    same share of a CPU, so that two processes have the headroom to show how they scale."""
    p = h.profile
    redis, redis_url = start_redis(h)
    prefix = f"bench{os.getpid()}"
    env = {"REDIS_URL": redis_url, "CAMPFIRE_REDIS_PREFIX": prefix}
    out: dict[str, Any] = {
        "scenario": "redis",
        "redis_url": redis_url,
        "cpu_cap": p["redis_cap"],
        "placement": h.args.redis_placement,
    }
    worker = None
    try:
        wcmd = worker_command(h)
        if wcmd:
            worker = h.spawn("arq-worker", wcmd, h.campfire_env(**env), None, None)
        aux = {"redis": redis.pid, **({"worker": worker.pid} if worker else {})}
        results: dict[str, Any] = {}
        for variant, counts in (("cores", [1, 2]), ("capped", p["redis_capped_processes"])):
            for n in counts:
                run = _redis_sweep(h, s, env, n, capped=variant == "capped", aux_pids=aux)
                if run is None:
                    break
                results[f"{n}proc" if variant == "cores" else f"{n}proc_capped"] = run
        out.update(results)
        for suffix in ("", "_capped"):
            for n in (2, 4):
                if f"{n}proc{suffix}" not in results:
                    continue
                for kind in ("sustained", "peak"):
                    one = results[f"1proc{suffix}"].get(f"{kind}_deliveries_per_s") or 0
                    many = results[f"{n}proc{suffix}"].get(f"{kind}_deliveries_per_s") or 0
                    # the 2-process keys keep their old names, so earlier results still read
                    key = f"speedup_{kind}{suffix}" if n == 2 else f"speedup{n}_{kind}{suffix}"
                    out[key] = round(many / one, 2) if one else None
        out["arq_worker"] = " ".join(wcmd) if wcmd else None
        return out
    finally:
        if worker:
            h.stop(worker)
        h.stop(redis)


def _redis_sweep(
    h: Harness, s: Seed, env: dict[str, str], n: int, *, capped: bool, aux_pids: dict[str, int]
) -> dict[str, Any] | None:
    p = h.profile
    if capped:
        # Every web process on core 0 at the same CPU cap; the load generator keeps core 1.
        cpus = ["0"] * n
    else:
        # One process: web on core 0, loadgen and Redis on core 1; two processes: one web
        # process on each core, loadgen and Redis float (the machine has only 2 cores).
        cpus = ["0"] if n == 1 else ["0", "1"]
    procs = [h.start_campfire(cpu, name=f"campfire-redis-{k}", **env) for k, cpu in
             enumerate(cpus)]  # fmt: skip
    groups: list[Path] = []
    try:
        if capped:
            for q in procs:
                group = cap_cpu(q.pid, p["redis_cap"], f"campfire-bench-{os.getpid()}-{q.pid}")
                if group is None:
                    return None
                groups.append(group)
        by_room = h.args.redis_placement == "room"
        clients = campfire_fanout_clients(s, p["tabs"], cursors(procs[0].url, s), n, by_room)
        cfg = {
            "scenario": "fanout",
            "label": f"redis-{n}proc" + ("-capped" if capped else ""),
            "target": "campfire",
            "mode": "campfire",
            "workers": p["workers"],
            "loadgen_cores": 1,
            "steps": steps(p, p["redis_steps"] if capped else p["steps"]),
            "urls": [q.url for q in procs],
            "clients": clients,
            # Capped at a fifth of a CPU, a process authenticates ~60-100 sockets a second:
            # 200 handshakes at once queued most of them past Engine.IO's ping timeout and
            # the handshake wait, and the sweep never started (runs G and H). A shallow
            # queue connects them all, slower; the sweep, not the connecting, is measured.
            "connect_concurrency": CAPPED_CONNECT_CONCURRENCY
            if capped
            else p["connect_concurrency"],
            "connect_timeout_s": 300 if capped else 60,
            # Redis's (and the worker's) CPU per delivery, each reported on its own
            "aux_pids": aux_pids,
        }
        saved = h.args.loadgen_cpu
        if n == 2 and not capped:
            h.args.loadgen_cpu = None
        try:
            return h.loadgen(cfg, [q.pid for q in procs])
        finally:
            h.args.loadgen_cpu = saved
    finally:
        for q in procs:
            h.stop(q)
        for group in groups:
            with contextlib.suppress(OSError):
                group.rmdir()


# ---------------------------------------------------------------- summary


def summarise(results: dict[str, Any], profile: str) -> list[dict[str, Any]]:
    """The headline figures, with the issue's targets where the profile is the full one."""
    rows: list[dict[str, Any]] = []
    full = profile == "full"

    other: dict[str, Any] = {"value": None}

    def add(scenario: str, target: str, figure: str, value: Any, goal: str, ok: bool | None):
        rows.append(
            {
                "scenario": scenario,
                "target": target,
                "figure": figure,
                "value": value,
                "goal": goal if full else "",
                "meets": ok if full else None,
                "other_cpu_pct": other["value"],
            }
        )

    def busy(r: dict[str, Any] | None) -> None:
        """CPU % that other processes on the machine took while `r` was measured (max)."""
        vals = [st.get("other_processes_cpu_pct") for st in (r or {}).get("steps", [])]
        vals.append((r or {}).get("other_processes_cpu_pct"))
        vals = [v for v in vals if v is not None]
        other["value"] = round(max(vals)) if vals else None

    for t in TARGETS:
        r = results.get(f"fanout/{t}")
        busy(r)
        if r and "steps" in r:
            v = r.get("sustained_deliveries_per_s")
            lb = " (loadgen-bound: lower bound)" if r.get("loadgen_bound") else ""
            add("fan-out sweep", t, "sustained deliveries/s" + lb, v,
                ">= 40,000" if t == "campfire" else "", (v or 0) >= 40_000 if t == "campfire"
                else None)  # fmt: skip
            add("fan-out sweep", t, "peak deliveries/s", r.get("peak_deliveries_per_s"), "", None)
            passing = [st for st in r["steps"] if st.get("pass")]
            if passing:
                us = passing[-1].get("server_cpu_us_per_delivery")
                add("fan-out sweep", t, "server CPU us/delivery at sustained", us, "", None)
        r = results.get(f"idle/{t}")
        busy(r)
        if r and r.get("connect"):
            add("idle connections", t, "connections opened per second (authenticated, ready)",
                r["connect"].get("per_second"), "", None)  # fmt: skip
        if r and "rss_per_connection_kb" in r:
            v = r["rss_per_connection_kb"]
            add("idle connections", t, f"RSS KB per idle connection ({r.get('connections')})",
                v, "<= 30 KB, 10,000 held" if t == "campfire" else "",
                (v or 1e9) <= 30 and r.get("still_connected_after_hold", 0) >= 10_000
                if t == "campfire" else None)  # fmt: skip
    r = results.get("latency/campfire")
    busy(r)
    if r and r.get("steps"):
        st = r["steps"][0]
        lat = st["latency_ms"]["p99_ms"]
        ack = st["ack_latency_ms"]["p99_ms"]
        ok_rate = st["achieved_deliveries_per_s"] >= 0.95 * st["offered_deliveries_per_s"]
        add("steady state", "campfire", f"delivery p99 ms at {st['offered_deliveries_per_s']}/s",
            lat, "<= 50 ms", lat is not None and lat <= 50 and ok_rate)  # fmt: skip
        add("steady state", "campfire", "MessageDelivered ack p99 ms", ack, "<= 10 ms",
            ack is not None and ack <= 10)  # fmt: skip
        add("steady state", "campfire", "achieved deliveries/s", st["achieved_deliveries_per_s"],
            "", None)  # fmt: skip
    r = results.get("writes/campfire")
    busy(r)
    if r and "persisted_messages_per_s" in r:
        v = r["persisted_messages_per_s"]
        add("persisted writes", "campfire", f"messages/s ({r.get('writers')} senders)", v,
            ">= 5,000", v >= 5_000)  # fmt: skip
    r = results.get("storm/campfire")
    busy(r)
    if r and "clients" in r:
        add(
            "reconnect storm",
            "campfire",
            f"s until all {r['clients']} reached SyncComplete ({r.get('missed_per_room')} missed)",
            r.get("all_synced_s"),
            "<= 5 s, all",
            bool(r.get("all_within_deadline")),
        )
        add("reconnect storm", "campfire", "clients with wrong replay",
            r.get("wrong_count_clients"), "0", r.get("wrong_count_clients") == 0)  # fmt: skip
    r = results.get("redis/campfire")
    if r and "1proc" in r:
        busy({"steps": r["1proc"].get("steps", []) + r["2proc"].get("steps", [])})
        if r.get("placement") == "room":
            add("redis fan-out", "campfire", "placement: each room's sockets on one process",
                "room", "", None)  # fmt: skip
        add("redis fan-out, a core each", "campfire", "sustained deliveries/s, 1 process",
            r["1proc"].get("sustained_deliveries_per_s"), "", None)  # fmt: skip
        add("redis fan-out, a core each", "campfire", "sustained deliveries/s, 2 processes",
            r["2proc"].get("sustained_deliveries_per_s"), "", None)  # fmt: skip
        add("redis fan-out, a core each", "campfire", "2-process speedup (machine-bound)",
            r.get("speedup_sustained"), "", None)  # fmt: skip
        if "2proc_capped" in r:
            cap = f"each process capped at {r['cpu_cap']} CPU"
            counts = [n for n in (1, 2, 4) if f"{n}proc_capped" in r]
            busy({"steps": [st for n in counts for st in r[f"{n}proc_capped"].get("steps", [])]})
            for n in counts:
                run = r[f"{n}proc_capped"]
                add(f"redis fan-out, {cap}", "campfire",
                    f"sustained deliveries/s, {n} process{'es' if n > 1 else ''}",
                    run.get("sustained_deliveries_per_s"), "", None)  # fmt: skip
                redis_us = _aux_at_sustained(run, "redis")
                if redis_us is not None:
                    add(f"redis fan-out, {cap}", "redis-server",
                        f"Redis CPU us/delivery at sustained, {n} process{'es' if n > 1 else ''}",
                        redis_us, "", None)  # fmt: skip
            for n, goal in ((2, 1.9), (4, 3.4)):
                v = r.get("speedup_sustained_capped" if n == 2 else f"speedup{n}_sustained_capped")
                if f"{n}proc_capped" in r:
                    add(f"redis fan-out, {cap}", "campfire", f"{n}-process speedup (sustained)",
                        v, f">= {goal}x", v is not None and v >= goal)  # fmt: skip
    return rows


def _aux_at_sustained(run: dict[str, Any], name: str) -> float | None:
    """A helper process's CPU per delivery (bench/loadgen: aux_pids) at the sustained step."""
    sustained = run.get("sustained_deliveries_per_s")
    for st in run.get("steps", []):
        if st.get("pass") and st.get("achieved_deliveries_per_s") == sustained:
            value = (st.get("aux_cpu_us_per_delivery") or {}).get(name)
            return float(value) if value is not None else None
    return None


def markdown(rows: list[dict[str, Any]]) -> str:
    out = [
        "| scenario | server | figure | value | target | meets | other CPU % |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        v = r["value"]
        if isinstance(v, float):
            v = f"{v:,.2f}"
        elif isinstance(v, int):
            v = f"{v:,}"
        meets = {True: "yes", False: "**no**", None: ""}[r["meets"]]
        out.append(
            f"| {r['scenario']} | {r['target']} | {r['figure']} | {v} | {r['goal']} | {meets} "
            f"| {'' if r['other_cpu_pct'] is None else r['other_cpu_pct']} |"
        )
    return "\n".join(out)


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node.stdout.strip(),
    }


# ---------------------------------------------------------------- main


def ensure_node_modules() -> None:
    if not shutil.which("node"):
        raise SystemExit("bench needs Node.js >= 18 on PATH")
    if not (BENCH / "node_modules" / "socket.io-client").exists():
        log("installing bench/node_modules (npm ci)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True, timeout=300)


def find_campfire() -> list[str]:
    venv = ROOT / ".venv" / "bin" / "campfire"
    if venv.exists():
        return [str(venv)]
    exe = shutil.which("campfire")
    if exe:
        return [exe]
    raise SystemExit("campfire is not installed: make (or pip install -e .) first")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    prof = ap.add_mutually_exclusive_group()
    prof.add_argument("--quick", action="store_const", dest="profile", const="quick")
    prof.add_argument("--smoke", action="store_const", dest="profile", const="smoke")
    ap.set_defaults(profile="full")
    ap.add_argument("--only", default=",".join(SCENARIOS),
                    help="scenarios: " + ",".join(SCENARIOS + EXTRA_SCENARIOS))  # fmt: skip
    ap.add_argument("--targets", default=",".join(TARGETS), help="servers: " + ",".join(TARGETS))
    ap.add_argument("--client", choices=["lean", "socket.io-client"], default="lean",
                    help="load generator client implementation (default: lean)")  # fmt: skip
    ap.add_argument(
        "--deflate",
        choices=["offer", "off"],
        default="offer",
        help="offer permessage-deflate like a browser (default) or not",
    )
    ap.add_argument("--users", type=int, help="override the profile's user count")
    ap.add_argument(
        "--redis-placement",
        choices=["alternate", "room"],
        default="alternate",
        help="redis scenario: sockets alternate between the web processes (default), or each "
        "room's sockets are all on one process (rooms spread over the processes)",
    )
    ap.add_argument("--steps", help="override the sweep, e.g. 5000,10000,20000")
    ap.add_argument("--no-pin", dest="pin", action="store_false", help="do not use taskset")
    ap.add_argument("--out", help="also write the JSON here (default bench/results/<time>.json)")
    ap.add_argument("--fresh", action="store_true", help="seed a new database, not the cached one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.loadgen_cpu = "1"
    profile = dict(PROFILES[args.profile])
    if args.users:
        profile["users"] = args.users
        profile["writers"] = min(profile["writers"], args.users)
    if args.steps:
        profile["steps"] = [int(x) for x in args.steps.split(",")]
    only = [x for x in args.only.split(",") if x]
    targets = [x for x in args.targets.split(",") if x]
    for x in only:
        if x not in SCENARIOS + EXTRA_SCENARIOS:
            raise SystemExit(f"unknown scenario {x}")
    for x in targets:
        if x not in TARGETS:
            raise SystemExit(f"unknown target {x}")
    ensure_node_modules()
    workdir = Path(tempfile.mkdtemp(prefix="campfire-bench-"))
    python = str(ROOT / ".venv" / "bin" / "python")
    if not Path(python).exists():
        python = sys.executable
    campfire = find_campfire() if "campfire" in targets else []
    h = Harness(args, profile, workdir, campfire, python)
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    t0 = time.monotonic()
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    interrupted = False

    def attempt(key: str, fn: Any, *fargs: Any) -> None:
        try:
            results[key] = fn(*fargs)
            if "error" in results[key]:
                errors[key] = results[key]["error"]
        except Exception as exc:  # record and go on with the other scenarios
            errors[key] = f"{type(exc).__name__}: {exc}"
            log(f"{key} failed: {errors[key]}")

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # issue 16's scenarios, references and charts live in their own modules (they import
    # this one as `bench`)
    import charts
    import scenarios_bigroom
    import scenarios_conns
    import scenarios_http
    import scenarios_writes
    import scenarios_writes_pg
    import summary_refs

    try:
        s = None
        if "campfire" in targets and any(x in only for x in SCENARIOS + EXTRA_SCENARIOS):
            # seeding is argon2-bound: let the setup server use both cores
            try:
                s = seed_cached(h)
            except Exception as exc:
                errors["seed"] = f"{type(exc).__name__}: {exc}"
                log(f"seeding failed, skipping the campfire scenarios: {errors['seed']}")
                targets = [t for t in targets if t != "campfire"]
        for target in targets:
            if "idle" in only:
                attempt(f"idle/{target}", run_idle, h, target, s)
            if "fanout" in only:
                attempt(f"fanout/{target}", run_fanout, h, target, s)
            if "bigroom" in only:
                attempt(f"bigroom/{target}", scenarios_bigroom.run_bigroom, h, target, s)
            if "idle50k" in only:
                attempt(f"idle50k/{target}", scenarios_conns.run_idle_many, h, target, s)
        if "campfire" in targets and s is not None:
            if "latency" in only:
                attempt("latency/campfire", run_fanout, h, "campfire", s, "latency")
            if "writes" in only:
                attempt("writes/campfire", scenarios_writes.run_writes_with_limit, h, s)
            if "writes-pg" in only:
                attempt("writes-pg/campfire", scenarios_writes_pg.run_writes_pg, h, s)
            if "storm" in only:
                attempt("storm/campfire", run_storm, h, s)
            if "storm10k" in only:
                attempt("storm10k/campfire", scenarios_conns.run_storm_many, h, s, targets)
            if "redis" in only:
                attempt("redis/campfire", run_redis, h, s)
            if "bigroom-distinct" in only:
                attempt("bigroom-distinct/campfire", scenarios_bigroom.run_bigroom_distinct, h, s)
            if "http" in only:
                attempt("http/campfire", scenarios_http.run_http, h, s)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; stopping servers")
    finally:
        h.stop_all()
        if h.failed_logs and not args.keep:
            args.keep = True
            log("a server failed; keeping its logs")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir}")
    rows = (
        summarise(results, args.profile)
        + summary_refs.rows(results, args.profile)
        + scenarios_conns.rows(results, args.profile)
    )
    load_end = os.getloadavg()
    doc = {
        "started": started.isoformat().replace("+00:00", "Z"),
        "elapsed_s": round(time.monotonic() - t0, 1),
        "profile": args.profile,
        "client": args.client,
        "pinned": bool(args.pin and pin("0")),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in load_end],
        "machine": machine(),
        "settings": profile,
        "summary": rows,
        "results": results,
        "errors": errors,
        "interrupted": interrupted,
    }
    text = json.dumps(doc, indent=1)
    out = Path(args.out) if args.out else BENCH / "results" / f"{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".md").write_text(markdown(rows) + "\n")
    try:
        for chart in charts.write_charts(doc, out):
            log(f"wrote {chart}")
    except Exception as exc:  # a chart must not cost the run's figures
        log(f"charts failed: {type(exc).__name__}: {exc}")
    print(text)
    log(f"wrote {out} and {out.with_suffix('.md')}\n" + markdown(rows))
    return 1 if (errors or interrupted) else 0


if __name__ == "__main__":
    # bench/scenarios_*.py import this module as `bench`: let that be this very module
    sys.modules.setdefault("bench", sys.modules[__name__])
    sys.exit(main())
