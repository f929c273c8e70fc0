"""Physical-limit reference for persisted writes on PostgreSQL: bare asyncpg writers.

No server, no sockets, no SQLAlchemy: the rows Campfire stored in the `writes-pg` scenario, in
the same batches, written into a fresh database of the same PostgreSQL server migrated to the
same schema and holding the same seed (so every index Campfire's rows maintain is maintained
here too: the unique (room_id, seq) and (creator_id, client_message_id) constraints, the unique
id, (room_id, rev) for revisions, the GIN search index, the foreign keys), with the server's
own durability settings (reported). Like Campfire's two web processes, two writer processes
(`--writers`) each with one connection, each replaying the batches its web process committed.
Per batch, one transaction (BEGIN and COMMIT, as Campfire's engine.begin() makes), with one
statement per kind of write, whatever the batch's size:

- `UPDATE rooms ... FROM unnest(rooms, counts) ... RETURNING id, last_seq` (the seqs),
- `INSERT INTO messages ... SELECT FROM unnest(...)` (the rows; random or time-ordered ids,
  as Campfire's were; rev and deleted take their defaults, as Campfire's do),
- `UPDATE memberships ... FROM unnest(...)` moving the senders' last_read_seq forward.

Campfire itself (app/services/message_batch_postgres.py) makes the same statements on its
pooled connection's asyncpg driver, plus the two reads below and a `SELECT ... ORDER BY id FOR
UPDATE` of the batch's rooms first when it has more than one (the lock order that keeps two
processes' batches over shared rooms from deadlocking; the writers' rooms here do not overlap).
With `--checks` this writer also makes the two reads Campfire makes per batch before writing
(resends by (creator_id, client_message_id), the senders' memberships), one statement each.

    python bench/peers/pg_writer.py DSN PLAN.json [--duration S] [--checks] [--writers 2]
        [--cpus 0,1]

PLAN.json is {"batches": [[[room_id, creator_id, content, mention_ids], ...], ...],
"process": [index of the web process that committed each batch, ...], "id_version": 4 | 7};
writer k replays the batches of process k (k modulo the processes seen) in order, round and
round, for --duration seconds. The writers' rooms do not overlap, as the processes' senders'
did not. Prints one JSON object: rows/s (all writers together), batches, per-writer figures,
what the table holds afterwards (`rows_stored`; `read_marks_behind` and `rooms_not_gapless`,
both 0 when every batch wrote what Campfire's does) and the server's durability settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

ALLOCATE = (
    "UPDATE rooms AS r SET last_seq = r.last_seq + c.n, last_message_at = $3"
    " FROM unnest($1::varchar[], $2::int[]) AS c(id, n) WHERE r.id = c.id"
    " RETURNING r.id, r.last_seq"
)
INSERT = (
    "INSERT INTO messages (id, room_id, creator_id, content, client_message_id, created_at,"
    " seq, mention_ids) SELECT i, r, c, t, k, $8, s, m FROM unnest($1::varchar[],"
    " $2::varchar[], $3::varchar[], $4::text[], $5::varchar[], $6::int[], $7::text[])"
    " AS v(i, r, c, t, k, s, m)"
)
MARK_READ = (
    "UPDATE memberships AS m SET last_read_seq = v.s"
    " FROM unnest($1::varchar[], $2::varchar[], $3::int[]) AS v(r, u, s)"
    " WHERE m.room_id = v.r AND m.user_id = v.u AND m.last_read_seq < v.s"
)
EXISTING = (
    "SELECT m.id, m.room_id, m.creator_id, m.content, m.client_message_id, m.created_at, m.seq,"
    " m.edited_at, m.deleted, m.rev, m.mention_ids FROM messages AS m"
    " JOIN unnest($1::varchar[], $2::varchar[]) AS k(c, i)"
    " ON m.creator_id = k.c AND m.client_message_id = k.i"
)
MEMBER = (
    "SELECT m.room_id, m.user_id FROM memberships AS m"
    " JOIN unnest($1::varchar[], $2::varchar[]) AS k(r, u) ON m.room_id = k.r AND m.user_id = k.u"
)
# After the run, for the replayed (room, sender) pairs: read marks behind their room's last
# seq (every message of a writer's room is its sender's, so none should be), and rooms whose
# messages are not exactly the seqs 1..last_seq.
VERIFY = (
    "SELECT count(*) FILTER (WHERE m.last_read_seq < r.last_seq),"
    " count(DISTINCT r.id) FILTER (WHERE s.n <> r.last_seq OR s.top <> r.last_seq)"
    " FROM unnest($1::varchar[], $2::varchar[]) AS k(room, usr)"
    " JOIN rooms AS r ON r.id = k.room"
    " JOIN memberships AS m ON m.room_id = k.room AND m.user_id = k.usr"
    " CROSS JOIN LATERAL (SELECT count(*) AS n, COALESCE(MAX(seq), 0) AS top FROM messages"
    " WHERE room_id = r.id) AS s"
)
SETTINGS = ("server_version", "synchronous_commit", "fsync", "wal_level", "full_page_writes")


def uuid7() -> str:
    """A time-ordered UUID (version 7): 48-bit milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


async def write_batch(
    connection: asyncpg.Connection, batch: list[list[str]], new_id: Any, checks: bool
) -> None:
    now = datetime.now(UTC)
    drafts = [(room, creator, content, mentions, str(uuid.uuid4()))
              for room, creator, content, mentions in batch]  # fmt: skip
    async with connection.transaction():
        if checks:
            await connection.fetch(EXISTING, [d[1] for d in drafts], [d[4] for d in drafts])
            pairs = sorted({(d[0], d[1]) for d in drafts})
            await connection.fetch(MEMBER, [p[0] for p in pairs], [p[1] for p in pairs])
        counts: dict[str, int] = {}
        for room, *_ in drafts:
            counts[room] = counts.get(room, 0) + 1
        rooms = sorted(counts)
        last = dict(
            (r["id"], r["last_seq"])
            for r in await connection.fetch(ALLOCATE, rooms, [counts[r] for r in rooms], now)
        )
        next_seq = {room: last[room] - n + 1 for room, n in counts.items()}
        columns: list[list[Any]] = [[], [], [], [], [], [], []]
        read_to: dict[tuple[str, str], int] = {}
        for room, creator, content, mentions, cmid in sorted(drafts, key=lambda d: d[0]):
            seq = next_seq[room]
            next_seq[room] = seq + 1
            for column, value in zip(
                columns, (new_id(), room, creator, content, cmid, seq, mentions), strict=True
            ):
                column.append(value)
            read_to[(room, creator)] = seq
        await connection.execute(INSERT, *columns, now)
        marks = list(read_to.items())
        await connection.execute(
            MARK_READ, [k[0] for k, _ in marks], [k[1] for k, _ in marks], [s for _, s in marks]
        )


async def run_writer(
    dsn: str, batches: list[list[list[str]]], args: argparse.Namespace, start: Any, new_id: Any
) -> dict[str, Any]:
    connection = await asyncpg.connect(dsn)
    try:
        start.wait()  # every writer connected: start together
        rows = done = 0
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        deadline = t0 + max(0.1, args.duration)
        while time.perf_counter() < deadline:
            batch = batches[done % len(batches)]
            await write_batch(connection, batch, new_id, args.checks)
            rows += len(batch)
            done += 1
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        await connection.close()
    return {"rows": rows, "batches": done, "seconds": elapsed, "cpu_s": cpu}


def writer_process(
    k: int, dsn: str, batches: list, args: argparse.Namespace, start: Any, out: Any, v7: bool
) -> None:
    try:
        if args.cpus:
            cpus = args.cpus.split(",")
            os.sched_setaffinity(0, {int(cpus[k % len(cpus)])})
        new_id = uuid7 if v7 else (lambda: str(uuid.uuid4()))
        result = asyncio.run(run_writer(dsn, batches, args, start, new_id))
        out.put((k, result))
    except BaseException as exc:
        out.put((k, {"error": f"{type(exc).__name__}: {exc}"}))
        start.abort()
        raise


async def server_settings(dsn: str) -> dict[str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        return {name: await connection.fetchval(f"SHOW {name}") for name in SETTINGS}
    finally:
        await connection.close()


async def last_position(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT COALESCE(MAX(position), 0) FROM messages"))
    finally:
        await connection.close()


async def verify(dsn: str, position: int, pairs: list[tuple[str, str]]) -> dict[str, int]:
    """What the writers' commits left: rows stored after `position`, read marks behind,
    rooms whose seqs are not gapless."""
    connection = await asyncpg.connect(dsn)
    try:
        stored = await connection.fetchval(
            "SELECT count(*) FROM messages WHERE position > $1", position
        )
        behind, gapped = await connection.fetchrow(
            VERIFY, [p[0] for p in pairs], [p[1] for p in pairs]
        )
    finally:
        await connection.close()
    return {"rows_stored": stored, "read_marks_behind": behind, "rooms_not_gapless": gapped}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dsn")
    ap.add_argument("plan")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--checks", action="store_true")
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--cpus", help="pin writer k to the k-th of these CPUs")
    args = ap.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    pairs = [(b, p) for b, p in zip(plan["batches"], plan.get("process") or [], strict=False) if b]
    if not plan.get("process"):
        pairs = [(b, i % args.writers) for i, b in enumerate(plan["batches"]) if b]
    if not pairs:
        print(json.dumps({"error": "empty plan"}))
        return 1
    processes = sorted({p for _, p in pairs})
    shares = []
    for k in range(args.writers):
        mine = processes[k % len(processes)]
        shares.append([b for b, p in pairs if p == mine])
    replayed = {(row[0], row[1]) for share in shares for batch in share for row in batch}
    before = asyncio.run(last_position(args.dsn))
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(args.writers)
    out = ctx.Queue()
    v7 = plan.get("id_version") == 7
    workers = [
        ctx.Process(target=writer_process, args=(k, args.dsn, share, args, start, out, v7))
        for k, share in enumerate(shares)
    ]
    for w in workers:
        w.start()
    results: dict[int, dict[str, Any]] = {}
    try:
        for _ in workers:
            k, result = out.get(timeout=args.duration + 120)
            results[k] = result
    finally:
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.kill()
                w.join()
    errors = [r["error"] for r in results.values() if "error" in r]
    if errors:
        print(json.dumps({"error": "; ".join(errors)}))
        return 1
    per = [results[k] for k in sorted(results)]
    rows = sum(r["rows"] for r in per)
    done = sum(r["batches"] for r in per)
    elapsed = max(r["seconds"] for r in per)
    print(
        json.dumps(
            {
                "rows": rows,
                "batches": done,
                "seconds": round(elapsed, 3),
                "rows_per_s": round(rows / elapsed),
                **asyncio.run(verify(args.dsn, before, sorted(replayed))),
                "mean_batch": round(rows / done, 2),
                "writers": [
                    {
                        "rows": r["rows"],
                        "batches": r["batches"],
                        "rows_per_s": round(r["rows"] / r["seconds"]),
                        "cpu_pct": round(r["cpu_s"] / r["seconds"] * 100, 1),
                    }
                    for r in per
                ],
                "checks": args.checks,
                "id_version": plan.get("id_version", 4),
                "server": asyncio.run(server_settings(args.dsn)),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
