"""The `writes` scenario's references (issue 16): Campfire's acked messages/s as a ratio to the
physical limit measured in the same run, and the ack p99 at 80% of Campfire's sustained rate.

The limit is bench/peers/sqlite_writer.py replaying the very batches Campfire committed (read
back from the database afterwards: a batch's rows share one created_at) into a copy of the
database as it was before Campfire's run, with the same pragmas and statements.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import bench as core


def run_writes_with_limit(h: core.Harness, s: core.Seed) -> dict[str, Any]:
    p = h.profile
    db = h.workdir / "db.sqlite3"
    before = h.workdir / "writes-before.sqlite3"
    copy_database(db, before)
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    result = core.run_writes(h, s)
    plan = committed_batches(db, s.writer_rooms, since)
    sizes = [len(b) for b in plan["batches"]]
    result["batches"] = batch_summary(sizes, plan["id_version"])
    rate = result.get("persisted_messages_per_s") or 0
    if sizes:
        plan_path = h.workdir / "writes-plan.json"
        plan_path.write_text(json.dumps(plan))
        limits = {}
        # SQLite's own checkpoints (inside a commit), as before session 8, and Campfire's
        # (a thread of their own): the limit is the faster of the two.
        variants = {
            "writes_only": (False, False),
            "with_checks": (True, False),
            "checkpoint_thread": (False, True),
        }
        for name, (checks, checkpoint_thread) in variants.items():
            target = h.workdir / f"writes-limit-{name}.sqlite3"
            copy_database(before, target)
            limits[name] = bare_writer(h, target, plan_path, p["write_s"], checks,
                                       checkpoint_thread)  # fmt: skip
        result["limit"] = limits
        for key, name in (
            ("ratio_to_limit", "writes_only"),
            ("ratio_to_limit_with_checks", "with_checks"),
            ("ratio_to_limit_checkpoint_thread", "checkpoint_thread"),
        ):
            bare = limits[name].get("rows_per_s")
            result[key] = round(rate / bare, 3) if bare else None
    if rate:
        result["at_80pct"] = fixed_rate_writes(h, s, max(1, round(rate * 0.8)))
    return result


def copy_database(src: Path, dst: Path) -> None:
    """Copy a database no process has open (its WAL too, if one was left)."""
    shutil.copyfile(src, dst)
    wal = src.with_name(src.name + "-wal")
    dst_wal = dst.with_name(dst.name + "-wal")
    dst_wal.unlink(missing_ok=True)
    if wal.exists():
        shutil.copyfile(wal, dst_wal)


def committed_batches(db: Path, rooms: list[str], since: str) -> dict[str, Any]:
    """The batches Campfire committed after `since` in `rooms`, in commit order."""
    connection = sqlite3.connect(db)
    try:
        marks = ", ".join("?" for _ in rooms)
        rows = connection.execute(
            "SELECT created_at, room_id, creator_id, content, mention_ids, id FROM messages"
            f" WHERE room_id IN ({marks}) AND created_at >= ? ORDER BY position",
            [*rooms, since],
        ).fetchall()
    finally:
        connection.close()
    batches = [
        [[room, creator, content, mentions] for _t, room, creator, content, mentions, _id in grp]
        for _t, grp in groupby(rows, key=lambda r: r[0])
    ]
    # The UUID version digit of the ids Campfire chose (random v4, or time-ordered v7).
    version = int(rows[0][5][14]) if rows and len(rows[0][5]) == 36 else 4
    return {"batches": batches, "id_version": version}


def bare_writer(
    h: core.Harness, db: Path, plan: Path, seconds: float, checks: bool,
    checkpoint_thread: bool = False,
) -> dict:  # fmt: skip
    cmd = [h.python, str(core.BENCH / "peers" / "sqlite_writer.py"), str(db), str(plan)]
    cmd += ["--duration", str(seconds)] + (["--checks"] if checks else [])
    cmd += ["--checkpoint-thread"] if checkpoint_thread else []
    where = "on a thread" if checkpoint_thread else "in the commit"
    core.log(f"running the bare SQLite writer ({'with' if checks else 'without'} checks,"
             f" checkpoints {where})")  # fmt: skip
    out = subprocess.run(
        core.pin("0" if h.args.pin else None) + cmd,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": f"sqlite_writer exited {out.returncode}: {out.stderr[-1000:]}"}
    return dict(json.loads(lines[-1]))


def batch_summary(sizes: list[int], id_version: int) -> dict[str, Any]:
    """How Campfire's commits were cut: the batch sizes the limit replays."""
    return {
        "count": len(sizes),
        "mean_size": round(sum(sizes) / len(sizes), 2) if sizes else None,
        "max_size": max(sizes, default=None),
        "rows": sum(sizes),
        "id_version": id_version,
    }


def writer_clients(s: core.Seed, seqs: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "token": s.users[i]["token"],
            "user_id": s.users[i]["id"],
            "rooms": [room],
            "last_seen": {r: seqs.get(r, 0) for r in (s.room_of(i), room)},
            "send_room": room,
        }
        for i, room in enumerate(s.writer_rooms)
    ]


def fixed_rate_config(
    h: core.Harness, label: str, urls: list[str], clients: list[dict[str, Any]], rate: int
) -> dict[str, Any]:
    """One open-loop step at `rate` messages/s spread over the writers (the fan-out sweep's
    machinery: each writer's room has one socket, so deliveries/s = messages/s)."""
    p = h.profile
    return {
        "scenario": "fanout",
        "label": label,
        "target": "campfire",
        "mode": "campfire",
        "workers": p["workers"],
        "urls": urls,
        "clients": clients,
        "steps": [{"offered": rate, "warmup_s": p["write_warmup_s"], "duration_s": p["write_s"]}],
        "stop_on_fail": False,
        "connect_concurrency": p["connect_concurrency"],
    }


def fixed_rate_result(run: dict[str, Any], rate: int) -> dict[str, Any]:
    """The figures of a `fixed_rate_config` run."""
    if "steps" not in run or not run["steps"]:
        return {"error": run.get("error", "no step"), "offered_messages_per_s": rate}
    st = run["steps"][0]
    return {
        "offered_messages_per_s": rate,
        "achieved_messages_per_s": st["achieved_deliveries_per_s"],
        "acked": st["acked"],
        "ack_latency_ms": st["ack_latency_ms"],
        "send_errors": st["send_errors"],
        "missing_deliveries": st["missing_deliveries"],
        "server_cpu_pct": st["server_cpu_pct"],
        "loadgen_cpu_pct": st["loadgen_cpu_pct"],
        "other_processes_cpu_pct": st.get("other_processes_cpu_pct"),
        "seq_gaps": run.get("counters", {}).get("seq_gaps"),
    }


def fixed_rate_writes(h: core.Harness, s: core.Seed, rate: int) -> dict[str, Any]:
    """Campfire at a fixed `rate` of messages/s (80% of its acked rate): the ack latency."""
    proc = h.start_campfire()
    try:
        clients = writer_clients(s, core.cursors(proc.url, s))
        run = h.loadgen(fixed_rate_config(h, "writes-80pct", [proc.url], clients, rate), [proc.pid])
    finally:
        h.stop(proc)
    return fixed_rate_result(run, rate)
