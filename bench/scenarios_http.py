"""The `http` scenario (issue 16): the history page, `GET /api/rooms/{id}/messages` (50
messages), requests/s at saturation and p99 at 80% of it, for Campfire and for a bare aiohttp
handler (bench/peers/bare_history.py) reading the same rows from the same database file.

The load generator is bench/loadgen/http.js: Node worker processes with keep-alive
connections, a closed loop for saturation, then a fixed schedule at 80% of it. Both servers
use a copy of the run's database (the room gets filled to a page of messages), so the
scenarios after this one see the database the run seeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from typing import Any

from scenarios_writes import copy_database

import bench as core

HTTP_LOADGEN = core.BENCH / "loadgen" / "http.js"
PAGE = 50


def run_http(h: core.Harness, s: core.Seed) -> dict[str, Any]:
    room = s.fanout_rooms[0]
    member = s.users[0]  # users[0] is in fanout_rooms[0] (see bench.seed)
    out: dict[str, Any] = {"scenario": "http", "page": PAGE, "room_id": room}
    db = h.workdir / "http.sqlite3"
    copy_database(h.workdir / "db.sqlite3", db)
    proc = h.start_campfire(DATABASE_URL=f"sqlite:///{db}")
    try:
        out["messages_posted"] = fill_room(proc.url, room, member["token"])
        auth = {"Authorization": f"Bearer {member['token']}"}
        out["campfire"] = http_load(h, proc, room, auth, "campfire")
    finally:
        h.stop(proc)
    port = core.free_port()
    cmd = [h.python, str(core.BENCH / "peers" / "bare_history.py"), str(port)]
    peer = h.spawn("peer-history", [*cmd, str(db)], dict(os.environ), port, "0")
    try:
        h.wait_healthy(peer)
        out["bare"] = http_load(h, peer, room, {}, "bare")
    finally:
        h.stop(peer)
    cf = saturation(out["campfire"])
    bare = saturation(out["bare"])
    out["ratio_to_bare"] = round(cf / bare, 3) if cf and bare else None
    failed = [f"{t}: {out[t]['error']}" for t in ("campfire", "bare") if "error" in out[t]]
    if failed:
        out["error"] = "; ".join(failed)
    return out


def fill_room(url: str, room: str, token: str) -> int:
    """Post messages until the room holds at least a page of them; how many were posted."""
    have = len(core.api("GET", f"{url}/api/rooms/{room}/messages?limit={PAGE}", token=token)
               ["messages"])  # fmt: skip
    for k in range(PAGE - have):
        body = {"content": f"history {k} " + "x" * 48, "client_message_id": str(uuid.uuid4())}
        core.api("POST", f"{url}/api/rooms/{room}/messages", body, token)
    return max(0, PAGE - have)


def http_load(
    h: core.Harness, server: core.Proc, room: str, headers: dict[str, str], target: str
) -> dict[str, Any]:
    p = h.profile
    cfg = {
        "url": f"{server.url}/api/rooms/{room}/messages?limit={PAGE}",
        "headers": headers,
        "workers": p["http_workers"],
        "connections": p["http_connections"],
        "expect_status": 200,
        "expect_count": {"key": "messages", "n": PAGE},
        # Parsing 50 messages costs the load generator ~0.1 ms: every answer's status is
        # checked, its body (exactly 50 messages) every 10th (every one in --smoke).
        "verify_every": 1 if h.args.profile == "smoke" else 10,
        "server_pids": [server.pid],
        "clk_tck": os.sysconf("SC_CLK_TCK"),
        "max_runtime_s": 4 * (p["http_warmup_s"] + p["http_s"]) + 60,
        "phases": [
            {
                "name": "saturation",
                "kind": "closed",
                "warmup_s": p["http_warmup_s"],
                "duration_s": p["http_s"],
            },
            {
                "name": "at_80pct",
                "kind": "rate",
                "rate_of": "saturation",
                "share": 0.8,
                "warmup_s": p["http_warmup_s"],
                "duration_s": p["http_s"],
            },
        ],
    }
    path = h.workdir / f"http-{target}.json"
    path.write_text(json.dumps(cfg))
    core.log(f"running http-{target}")
    started = time.monotonic()
    cmd = [*core.pin(h.args.loadgen_cpu if h.args.pin else None), "node", str(HTTP_LOADGEN)]
    proc = subprocess.run(
        [*cmd, str(path)],
        capture_output=True,
        text=True,
        timeout=cfg["max_runtime_s"] + 30,
        check=False,
        preexec_fn=core.raise_nofile,
    )
    path.unlink(missing_ok=True)  # it holds a session token
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"http loadgen exited {proc.returncode}: {proc.stderr[-1500:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def saturation(run: dict[str, Any]) -> int | None:
    for ph in run.get("phases", []):
        if ph["name"] == "saturation":
            return int(ph["requests_per_s"])
    return None
