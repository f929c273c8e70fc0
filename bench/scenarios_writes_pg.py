"""The `writes-pg` scenario (issue 16): persisted writes on PostgreSQL with two web processes,
as a ratio to the physical limit measured in the same run, and the ack p99 at 80% of
Campfire's acked rate. Opt-in (`--only writes-pg`): it needs a PostgreSQL server on
127.0.0.1:5432 that user postgres reaches without a password (bench/run starts its own Redis,
not its own PostgreSQL).

- A database of its own, `campfire_bench_<random>`, created for the run, migrated with
  `campfire migrate`, and given the run's seed (bench/seed_postgres.py copies the seeded SQLite
  file: same users, tokens, rooms). A copy of it (`CREATE DATABASE ... TEMPLATE`) is taken
  before Campfire writes anything, for the limit.
- Its own Redis server and the Procfile's arq worker, as the `redis` scenario runs them, and
  two `campfire serve` processes with DATABASE_URL=postgresql://... and REDIS_URL, one pinned
  to each core (the load generator floats: on 2 cores this measures the machine, as the Redis
  scenario's "a core each" variant does).
- The `writes` scenario's senders, closed loop, split over the two processes (sender i on
  process i % 2): acked messages/s.
- The limit: bench/peers/pg_writer.py, two writer processes with one asyncpg connection each,
  replaying the batches each web process committed (read back from the database afterwards: a
  batch's rows share one created_at; the process is known from the room's sender) into a fresh
  copy of the database as it was before Campfire's run; rows/s, and again with the reads
  Campfire makes before writing.
- Campfire again (both processes restarted) at 80% of its acked rate, open loop: ack p99.

Every database it made is dropped at the end (WITH (FORCE)), and every process it started is
stopped by its PID, whatever failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import asyncpg
from scenarios_writes import (
    batch_summary,
    fixed_rate_config,
    fixed_rate_result,
    writer_clients,
)

import bench as core

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PROCESSES = 2


def dsn(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(name: str, template: str | None = None) -> None:
    tail = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(_admin(f'CREATE DATABASE "{name}"{tail}'))


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_writes_pg(h: core.Harness, s: core.Seed) -> dict[str, Any]:
    p = h.profile
    base = f"campfire_bench_{secrets.token_hex(6)}"
    made: list[str] = []
    redis: core.Proc | None = None
    worker: core.Proc | None = None
    out: dict[str, Any] = {"scenario": "writes-pg", "processes": PROCESSES, "database": base}
    try:
        create_database(base)
        made.append(base)
        url = dsn(base)
        prepare(h, url)
        before = f"{base}_before"
        create_database(before, template=base)  # nobody is connected to it now
        made.append(before)
        redis, redis_url = core.start_redis(h)
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "CAMPFIRE_REDIS_PREFIX": f"benchpg{os.getpid()}",
        }
        wcmd = core.worker_command(h)
        if wcmd:
            worker = h.spawn("arq-worker", wcmd, h.campfire_env(**env), None, None)
        out["arq_worker"] = " ".join(wcmd) if wcmd else None
        since = datetime.now(UTC)
        out.update(closed_loop(h, s, env))
        out["scenario"] = "writes-pg"
        process_of = {room: i % PROCESSES for i, room in enumerate(s.writer_rooms)}
        plan = asyncio.run(committed_batches(url, process_of, since))
        sizes = [len(b) for b in plan["batches"]]
        out["batches"] = {
            **batch_summary(sizes, plan["id_version"]),
            "per_process": [plan["process"].count(k) for k in range(PROCESSES)],
        }
        rate = out.get("persisted_messages_per_s") or 0
        if sizes:
            plan_path = h.workdir / "writes-pg-plan.json"
            plan_path.write_text(json.dumps(plan))
            limits = {}
            for checks in (False, True):
                target = f"{base}_limit{int(checks)}"
                create_database(target, template=before)
                made.append(target)
                try:
                    limits["with_checks" if checks else "writes_only"] = bare_writer(
                        h, dsn(target), plan_path, p["write_s"], checks
                    )
                finally:
                    drop_database(target)
                    made.remove(target)
            out["limit"] = limits
            bare = limits["writes_only"].get("rows_per_s")
            out["ratio_to_limit"] = round(rate / bare, 3) if bare else None
            checked = limits["with_checks"].get("rows_per_s")
            out["ratio_to_limit_with_checks"] = round(rate / checked, 3) if checked else None
        if rate:
            out["at_80pct"] = fixed_rate(h, s, env, max(1, round(rate * 0.8)))
        failed = [f"limit {k}: {v['error']}" for k, v in out.get("limit", {}).items()
                  if "error" in v]  # fmt: skip
        if "error" in out.get("at_80pct", {}):
            failed.append(f"at 80%: {out['at_80pct']['error']}")
        if failed and "error" not in out:
            out["error"] = "; ".join(failed)
        return out
    finally:
        if worker is not None:
            h.stop(worker)
        if redis is not None:
            h.stop(redis)
        for name in reversed(made):
            try:
                drop_database(name)
            except Exception as exc:  # report, and go on dropping the others
                core.log(f"could not drop database {name}: {type(exc).__name__}: {exc}")


def prepare(h: core.Harness, url: str) -> None:
    """Migrate the new database and copy the run's seed into it."""
    env = h.campfire_env(DATABASE_URL=url)
    steps = (
        [*h.campfire, "migrate"],
        [h.python, str(core.BENCH / "seed_postgres.py"), str(h.workdir / "db.sqlite3"), url],
    )
    for cmd in steps:
        done = subprocess.run(
            cmd, env=env, cwd=h.workdir, capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed: {done.stderr[-2000:]}")
    core.log(f"migrated and seeded {url.rsplit('/', 1)[-1]}: {done.stdout.strip()[-300:]}")


def start_processes(h: core.Harness, env: dict[str, str]) -> list[core.Proc]:
    """The web processes, one pinned to each core, started side by side."""
    procs: list[core.Proc] = []
    try:
        for k in range(PROCESSES):
            port = core.free_port()
            procs.append(
                h.spawn(f"campfire-pg-{k}", [*h.campfire, "serve"],
                        h.campfire_env(PORT=str(port), **env), port, str(k % 2))
            )  # fmt: skip
        for q in procs:
            h.wait_healthy(q)
    except BaseException:
        for q in procs:
            h.stop(q)
        raise
    return procs


def clients_for(h: core.Harness, s: core.Seed, url: str) -> list[dict[str, Any]]:
    clients = writer_clients(s, core.cursors(url, s))
    for i, client in enumerate(clients):
        client["url_index"] = i % PROCESSES
    return clients


def _loadgen_floating(h: core.Harness, cfg: dict[str, Any], pids: list[int]) -> dict[str, Any]:
    # Both cores hold a web process: the load generator (and PostgreSQL, Redis) float.
    saved = h.args.loadgen_cpu
    h.args.loadgen_cpu = None
    try:
        return h.loadgen(cfg, pids)
    finally:
        h.args.loadgen_cpu = saved


def closed_loop(h: core.Harness, s: core.Seed, env: dict[str, str]) -> dict[str, Any]:
    p = h.profile
    procs = start_processes(h, env)
    try:
        cfg = {
            "scenario": "writes",
            "label": "writes-pg",
            "target": "campfire",
            "mode": "campfire",
            "workers": p["workers"],
            "urls": [q.url for q in procs],
            "clients": clients_for(h, s, procs[0].url),
            "window": p["write_window"],
            "warmup_s": p["write_warmup_s"],
            "duration_s": p["write_s"],
            "connect_concurrency": p["connect_concurrency"],
        }
        result = _loadgen_floating(h, cfg, [q.pid for q in procs])
        result["server_metrics"] = [core.server_metrics(q.url) for q in procs]
        return result
    finally:
        for q in procs:
            h.stop(q)


async def committed_batches(
    url: str, process_of: dict[str, int], since: datetime
) -> dict[str, Any]:
    """The batches Campfire committed after `since` in the writers' rooms, in commit order,
    each with the index of the web process that committed it (its rooms' senders' process)."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT created_at, room_id, creator_id, content, mention_ids, id FROM messages"
            " WHERE room_id = ANY($1::varchar[]) AND created_at >= $2"
            " ORDER BY created_at, position",
            list(process_of),
            since,
        )
    finally:
        await connection.close()
    batches: list[list[list[str]]] = []
    process: list[int] = []
    # A batch's rows share its commit's created_at; two processes could (rarely) pick the same
    # microsecond, so the process is part of the key.
    for (_t, k), grp in groupby(rows, key=lambda r: (r["created_at"], process_of[r["room_id"]])):
        batches.append([[r["room_id"], r["creator_id"], r["content"], r["mention_ids"]]
                        for r in grp])  # fmt: skip
        process.append(k)
    ident = rows[0]["id"] if rows else ""
    version = int(ident[14]) if len(ident) == 36 else 4
    return {"batches": batches, "process": process, "id_version": version}


def bare_writer(h: core.Harness, url: str, plan: Any, seconds: float, checks: bool) -> dict:
    cmd = [h.python, str(core.BENCH / "peers" / "pg_writer.py"), url, str(plan)]
    cmd += ["--duration", str(seconds), "--writers", str(PROCESSES)]
    cmd += (["--checks"] if checks else []) + (["--cpus", "0,1"] if core.pin("0") and
                                               h.args.pin else [])  # fmt: skip
    core.log(f"running the bare asyncpg writers ({'with' if checks else 'without'} checks)")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 180, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": f"pg_writer exited {out.returncode}: {out.stderr[-1000:]} {out.stdout}"}
    return dict(json.loads(lines[-1]))


def fixed_rate(h: core.Harness, s: core.Seed, env: dict[str, str], rate: int) -> dict[str, Any]:
    """Open-loop sends at `rate` messages/s over the writers on both processes."""
    procs = start_processes(h, env)
    try:
        urls = [q.url for q in procs]
        cfg = fixed_rate_config(h, "writes-pg-80pct", urls, clients_for(h, s, urls[0]), rate)
        run = _loadgen_floating(h, cfg, [q.pid for q in procs])
    finally:
        for q in procs:
            h.stop(q)
    return fixed_rate_result(run, rate)
