"""The `bigroom` scenario (issue 16): one room of N connected sockets ("All Talk"), one
sender; deliveries/s at saturation (the fan-out sweep, one room) and delivery p99 at 50% of it,
for Campfire and the bare python-socketio and Node peers in the same run.

Campfire's room has `bigroom_members` members written into a copy of the run's database by
bench/seed_members.py (users made through the API would cost two argon2 hashes each), each with
N / members sockets (tabs). The copy also keeps the big room out of the other scenarios' database.

The `bigroom-distinct` variant (Campfire only) has as many members as sockets, one socket each:
what "All Talk" of a real team is. It is workable because a room of more than
CAMPFIRE_LIVE_PRESENCE_MAX_MEMBERS members (default 1,000) has presence on request only
(app/services/live_presence.py): with live presence, N distinct members connecting cost about
N^2 / 2 presence deliveries (50 million for 10,000). It reports the time to connect them all
(`connect.seconds`) beside the sweep. Run it with CAMPFIRE_LIVE_PRESENCE_MAX_MEMBERS=0 in the
environment to see the live-presence cost (bounded by the connect timeout). Opt-in: `--only
bigroom-distinct`.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

from scenarios_writes import copy_database

import bench as core


def run_bigroom_distinct(h: core.Harness, s: core.Seed) -> dict[str, Any]:
    """One room of N distinct members, one socket each (Campfire only: the peers' room is
    the same as in `bigroom`)."""
    n = h.profile["bigroom_distinct_sockets"]
    return run_bigroom(h, "campfire", s, sockets=n, members=n)


def run_bigroom(
    h: core.Harness,
    target: str,
    s: core.Seed | None,
    sockets: int | None = None,
    members: int | None = None,
) -> dict[str, Any]:
    p = h.profile
    n = sockets or p["bigroom_sockets"]
    sweep = [
        {"offered": v, "warmup_s": p["bigroom_warmup_s"], "duration_s": p["bigroom_step_s"]}
        for v in p["bigroom_steps"]
    ]
    base = {
        "scenario": "fanout",
        "target": target,
        "workers": p["bigroom_workers"],
        "connect_concurrency": p["connect_concurrency"],
        "connect_timeout_s": 120,
        "settle_s": 2 if n > 1000 else 1,
    }
    if target == "campfire":
        assert s is not None
        db = h.workdir / "bigroom.sqlite3"
        copy_database(h.workdir / "db.sqlite3", db)
        count = min(n, members or p["bigroom_members"])
        room, people = seed_members(h, db, count, s.users[0]["id"])
        tabs = math.ceil(n / len(people))
        proc = h.start_campfire(
            DATABASE_URL=f"sqlite:///{db}", CAMPFIRE_MAX_CONNECTIONS_PER_USER=str(tabs + 1)
        )
        try:
            clients = [
                {
                    "token": m["token"],
                    "user_id": m["id"],
                    "rooms": [room],
                    "last_seen": {room: 0},
                    "send_room": room if k == 0 else None,
                }
                for k, m in ((k, people[k % len(people)]) for k in range(n))
            ]
            cfg = {**base, "mode": "campfire", "urls": [proc.url], "clients": clients}
            result = _sweep_then_half(h, cfg, [proc.pid], sweep)
            result["members"] = len(people)
            result["live_presence_max_members"] = h.campfire_env().get(
                "CAMPFIRE_LIVE_PRESENCE_MAX_MEMBERS", "default"
            )
            result["sockets_per_member"] = tabs
            result["server_metrics"] = core.server_metrics(proc.url)
            return result
        finally:
            h.stop(proc)
    proc = core.start_peer(h, target)
    try:
        clients = core.peer_fanout_clients(1, n)
        cfg = {**base, "mode": "peer", "urls": [proc.url], "clients": clients}
        return _sweep_then_half(h, cfg, [proc.pid], sweep)
    finally:
        h.stop(proc)


def seed_members(h: core.Harness, db: Path, n: int, creator: str) -> tuple[str, list[dict]]:
    t0 = time.monotonic()
    out = subprocess.run(
        [h.python, str(core.BENCH / "seed_members.py"), str(db), str(n), creator],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"seed_members.py exited {out.returncode}: {out.stderr[-1500:]}")
    seeded = json.loads(out.stdout)
    core.log(f"wrote a room of {n} members in {time.monotonic() - t0:.1f}s")
    return seeded["room_id"], seeded["members"]


def _sweep_then_half(
    h: core.Harness, cfg: dict[str, Any], pids: list[int], sweep: list[dict[str, Any]]
) -> dict[str, Any]:
    """The sweep (stops at the first failing step), then one step at half the sustained rate
    (half the peak if no step passed) with the same server (the load generator connects
    anew)."""
    p = h.profile
    result = h.loadgen({**cfg, "label": "bigroom", "steps": sweep, "stop_on_fail": True}, pids)
    sustained = result.get("sustained_deliveries_per_s") or 0
    base = sustained or result.get("peak_deliveries_per_s") or 0
    if "error" in result or not base:
        return result
    half = {"offered": max(1, round(base / 2)), "warmup_s": p["bigroom_warmup_s"],
            "duration_s": p["bigroom_step_s"]}  # fmt: skip
    run = h.loadgen({**cfg, "label": "bigroom-half", "steps": [half], "stop_on_fail": False}, pids)
    if run.get("steps"):
        st = run["steps"][0]
        result["at_half"] = {
            "half_of": "sustained" if sustained else "peak",
            "offered_deliveries_per_s": st["offered_deliveries_per_s"],
            "achieved_deliveries_per_s": st["achieved_deliveries_per_s"],
            "latency_ms": st["latency_ms"],
            "ack_latency_ms": st["ack_latency_ms"],
            "missing_deliveries": st["missing_deliveries"],
            "server_cpu_pct": st["server_cpu_pct"],
            "loadgen_cpu_pct": st["loadgen_cpu_pct"],
            "pass": st["pass"],
            "seq_gaps": run.get("counters", {}).get("seq_gaps"),
        }
    else:
        result["at_half"] = {"error": run.get("error", "no step")}
    return result
