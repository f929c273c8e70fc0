"""What a reconnect storm on one web process costs another process holding none of its
sockets: the worker's replays sent to the holding process's inbox, one message per replay
(`CAMPFIRE_REPLAY_INBOX=1`, the default), against one emit per replayed event on the shared
channel that every process decodes (`=0`, as before session 12).

Two web processes, A and B, an arq worker and a Redis server of its own (started and stopped
here, on a free loopback port), one SQLite file. One room holds `--missed` messages more than
the storm's cursors; `--clients` websockets connect to A with those cursors and wait for
their SyncComplete (the worker replays, since Redis is configured). The variants alternate
round after round (the web processes restarted with the other setting; the worker stays), so
that a host whose speed drifts slows both alike; medians are reported: B's CPU and the Redis
messages B decoded per storm, A's CPU per socket, the storm's duration.

    PYTHONPATH=. .venv/bin/python bench/replay_inbox.py [--rounds 3] [--clients 1000] [--missed 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
CAMPFIRE = str(Path(sys.executable).parent / "campfire")
EMAIL, PASSWORD = "bench@bench.invalid", "bench-password-1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RECEIVED = "campfire_pubsub_messages_received_total"
# Every rate limit off and room for thousands of sockets of one user: load, not abuse.
UNLIMITED = {
    "CAMPFIRE_LOG": "warning",
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_LOGIN_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS": "30000",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "30000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def api(method: str, url: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None, method=method
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def migrate_with_admin(env: dict[str, str], cwd: Path = ROOT) -> None:
    """The schema and the bench's admin (EMAIL, PASSWORD) in `env`'s database."""
    subprocess.run([CAMPFIRE, "migrate"], env=env, cwd=cwd, check=True, capture_output=True)
    subprocess.run(
        [CAMPFIRE, "user", "create", "--name", "Bench", "--email", EMAIL,
         "--password", PASSWORD, "--admin"],
        env=env, cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


def received(url: str) -> dict[str, float]:
    """The Redis messages a web process decoded so far, by channel kind."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(RECEIVED + "{"):
            kind = line.split('channel="', 1)[1].split('"', 1)[0]
            counts[kind] = float(line.rsplit(" ", 1)[1])
    return counts


class Deployment:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.redis_port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HOST": "127.0.0.1",
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CAMPFIRE_REDIS_PREFIX": "bench",
            **UNLIMITED,
        }

    def spawn(self, argv: list[str], cpu: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{len(self.procs)}.log", "wb")
        pinned = ["taskset", "-c", cpu] if shutil.which("taskset") else []
        proc = subprocess.Popen(
            [*pinned, *argv], env={**self.env, **env}, cwd=ROOT, stdout=log, stderr=log
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)

    def web(self, cpu: str, inbox: bool) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        env = {"PORT": str(port), "CAMPFIRE_REPLAY_INBOX": "1" if inbox else "0"}
        proc = self.spawn([CAMPFIRE, "serve"], cpu, **env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                return proc, url
            time.sleep(0.1)
        raise RuntimeError(f"campfire serve on {port} did not come up")


async def storm(
    url: str, token: str, cursors: dict[str, int], clients: int, bystander: tuple[str, str]
) -> float:
    """`clients` websockets to `url` with `cursors`, each until its SyncComplete; then closed.
    Meanwhile one socket of `bystander` (a URL and a token) is connected: python-socketio's
    manager subscribes to Redis only once its process has a socket."""
    async with aiohttp.ClientSession() as session:
        b_url, b_token = bystander
        ws = await session.ws_connect(f"{b_url}/socket.io/?EIO=4&transport=websocket")
        async for message in ws:
            if message.data.startswith("0"):
                await ws.send_str("40" + json.dumps({"token": b_token}))
            elif message.data.startswith('42["SyncComplete"'):
                break
        try:
            return await _storm(url, token, cursors, clients)
        finally:
            await ws.close()


async def _storm(url: str, token: str, cursors: dict[str, int], clients: int) -> float:
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    auth = "40" + json.dumps({"token": token, "last_seen": cursors})
    gate = asyncio.Semaphore(50)

    async def one(session: aiohttp.ClientSession) -> None:
        async with gate:
            ws = await session.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
            sockets.append(ws)
            async for message in ws:
                data = message.data
                if data.startswith("0"):
                    await ws.send_str(auth)
                elif data == "2":
                    await ws.send_str("3")
                elif data.startswith('42["SyncComplete"'):
                    return
            raise RuntimeError("closed before SyncComplete")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(session) for _ in range(clients))), 300)
        took = time.monotonic() - started
        await asyncio.gather(*(ws.close() for ws in sockets))
    return took


def settled(url: str) -> dict[str, float]:
    """B's counts once they stop moving (it may still be reading what the storm published)."""
    last = received(url)
    while True:
        time.sleep(0.3)
        now = received(url)
        if now == last:
            return now
        last = now


def round_of(
    d: Deployment, inbox: bool, tokens: tuple[str, str], room: str, args: argparse.Namespace
) -> dict[str, Any]:
    token, bystander = tokens
    a, a_url = d.web("0", inbox)
    b, b_url = d.web("0", inbox)
    try:
        last_seq = next(
            r["last_seq"] for r in api("GET", f"{a_url}/api/rooms", token=token)["rooms"]
        )
        cursors = {room: last_seq - args.missed}
        asyncio.run(storm(a_url, token, cursors, 50, (b_url, bystander)))  # warm-up
        before_b, cpu_a, cpu_b = settled(b_url), cpu_seconds(a.pid), cpu_seconds(b.pid)
        took = asyncio.run(storm(a_url, token, cursors, args.clients, (b_url, bystander)))
        after_b = settled(b_url)
        return {
            "inbox": inbox,
            "storm_s": took,
            "a_cpu_ms_per_socket": (cpu_seconds(a.pid) - cpu_a) * 1000 / args.clients,
            "b_cpu_ms": (cpu_seconds(b.pid) - cpu_b) * 1000,
            "b_decoded": {k: after_b.get(k, 0) - before_b.get(k, 0) for k in after_b},
        }
    finally:
        d.stop(a)
        d.stop(b)


def measure(rounds: int, clients: int, missed: int) -> list[dict[str, Any]]:
    """Set up the deployment, run the rounds (variants alternated), stop everything."""
    args = argparse.Namespace(rounds=rounds, clients=clients, missed=missed)
    workdir = Path(tempfile.mkdtemp(prefix="campfire-replay-inbox-"))
    d = Deployment(workdir)
    try:
        redis = shutil.which("redis-server") or "redis-server"
        d.spawn([redis, "--port", str(d.redis_port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no"], "1")  # fmt: skip
        migrate_with_admin(d.env)
        d.spawn([CAMPFIRE, "worker"], "1")
        seeder, url = d.web("0", True)
        token = api("POST", f"{url}/api/session", {"email_address": EMAIL, "password": PASSWORD})
        tokens = (token["token"], seed_bystander(url, token["token"]))
        room = seed_room(url, tokens[0], missed + 5)
        d.stop(seeder)
        runs: list[dict[str, Any]] = []
        for r in range(rounds):
            for inbox in (False, True) if r % 2 == 0 else (True, False):
                runs.append(round_of(d, inbox, tokens, room, args))
                print(json.dumps(runs[-1]), flush=True)
        return runs
    finally:
        d.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def seed_bystander(url: str, admin_token: str) -> str:
    """B's one socket's user: in no room, so that the storm room's own events skip B."""
    other = {"name": "Bystander", "email_address": "other@bench.invalid", "password": PASSWORD}
    api("POST", f"{url}/api/users", other, admin_token)
    login = {"email_address": other["email_address"], "password": PASSWORD}
    return str(api("POST", f"{url}/api/session", login)["token"])


def seed_room(url: str, token: str, messages: int) -> str:
    room = str(
        api("POST", f"{url}/api/rooms", {"name": "storm", "kind": "open"}, token)["room"]["id"]
    )
    for i in range(messages):
        body = {
            "content": f"message {i}, as long as a chat line tends to be",
            "client_message_id": str(uuid.uuid4()),
        }
        api("POST", f"{url}/api/rooms/{room}/messages", body, token)
    return room


def report(runs: list[dict[str, Any]], clients: int, missed: int) -> str:
    rounds = len(runs) // 2
    lines = [
        f"{clients} sockets reconnecting to A, {missed} missed each, {rounds} rounds (medians):",
        "| replays | B decoded per storm (shared / inbox) | B CPU ms per storm | "
        "A CPU ms per socket | storm s |",
        "|---|---|---|---|---|",
    ]
    for inbox in (False, True):
        mine = [run for run in runs if run["inbox"] is inbox]

        def med(key: str, runs: list[dict[str, Any]] = mine) -> float:
            return statistics.median(run[key] for run in runs)

        shared = statistics.median(run["b_decoded"].get("shared", 0) for run in mine)
        inboxes = statistics.median(run["b_decoded"].get("inbox", 0) for run in mine)
        label = "to the inbox, one message" if inbox else "emit by emit, shared channel"
        lines.append(
            f"| {label} | {shared:,.0f} / {inboxes:,.0f} | {med('b_cpu_ms'):,.0f} | "
            f"{med('a_cpu_ms_per_socket'):.3f} | {med('storm_s'):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--missed", type=int, default=20)
    args = ap.parse_args()
    runs = measure(args.rounds, args.clients, args.missed)
    print()
    print(report(runs, args.clients, args.missed))


if __name__ == "__main__":
    main()
