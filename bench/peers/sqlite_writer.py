"""Physical-limit reference for persisted writes: a bare loop storing message rows in SQLite.

No server, no sockets, no event loop: the same rows Campfire stored in the `writes` scenario,
in the same batches, written by the statements of app/services/message_sql.py into a copy of
the same database file (same schema, indexes and FTS5 table) with the same pragmas as
app/db.py (WAL, synchronous=NORMAL, foreign keys on). Per batch, one `BEGIN IMMEDIATE`
transaction:

- `UPDATE rooms SET last_seq = last_seq + CASE id ... END ... RETURNING` (one statement),
- the message rows (`executemany`; random or time-ordered ids, as Campfire's were),
- the FTS5 insert of the batch's rows (one statement, as Campfire does it),
- the senders' `memberships.last_read_seq` moved forward,
- `COMMIT`.

With `--checks` it also makes the per-message reads Campfire makes before writing (the resend
lookup by (creator_id, client_message_id), the sender's membership). With `--checkpoint-thread`
it checkpoints as Campfire does since session 8 (app/wal_checkpoints.py): a PASSIVE checkpoint
every 0.1 s on a thread of its own, the commits' automatic checkpoint only past 10,000 pages;
without it, SQLite's default (inside the commit that passes 1,000 pages).

    python bench/peers/sqlite_writer.py DB PLAN.json [--duration S] [--checks]
        [--checkpoint-thread]

PLAN.json is {"batches": [[[room_id, creator_id, content, mention_ids], ...], ...],
"id_version": 4 | 7}; the batches are replayed in order, round and round, for --duration
seconds. Prints one JSON object: rows/s, batches, batch size mean.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

INSERT = (
    "INSERT INTO messages (id, room_id, creator_id, content, client_message_id, created_at,"
    " seq, mention_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
LAST_POSITION = "SELECT COALESCE(MAX(position), 0) FROM messages"
INDEX = (
    "INSERT INTO messages_fts(rowid, content) SELECT position, content FROM messages"
    " WHERE position > ?"
)
MARK_READ = (
    "UPDATE memberships SET last_read_seq = ?1"
    " WHERE room_id = ?2 AND user_id = ?3 AND last_read_seq < ?1"
)
EXISTING = (
    "SELECT id, room_id, creator_id, content, client_message_id, created_at, seq, edited_at,"
    " deleted, rev, mention_ids FROM messages WHERE creator_id = ? AND client_message_id = ?"
)
MEMBER = "SELECT 1 FROM memberships WHERE room_id = ? AND user_id = ?"


def connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=10000")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def uuid7() -> str:
    """A time-ordered UUID (version 7): 48-bit milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def write_batch(
    connection: sqlite3.Connection, batch: list[list[str]], new_id, checks: bool
) -> None:
    execute = connection.execute
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    drafts = [(room, creator, content, mentions, str(uuid.uuid4())) for room, creator, content,
              mentions in batch]  # fmt: skip
    execute("BEGIN IMMEDIATE")
    try:
        if checks:
            for _room, creator, _content, _mentions, cmid in drafts:
                execute(EXISTING, (creator, cmid)).fetchone()
            for pair in {(room, creator) for room, creator, *_ in drafts}:
                execute(MEMBER, pair).fetchone()
        counts: dict[str, int] = {}
        for room, *_ in drafts:
            counts[room] = counts.get(room, 0) + 1
        cases = " ".join("WHEN ? THEN ?" for _ in counts)
        marks = ", ".join("?" for _ in counts)
        params: list[object] = [item for pair in counts.items() for item in pair]
        params += [now, *counts]
        last = dict(
            execute(
                f"UPDATE rooms SET last_seq = last_seq + CASE id {cases} END,"
                f" last_message_at = ? WHERE id IN ({marks}) RETURNING id, last_seq",
                params,
            ).fetchall()
        )
        next_seq = {room: last[room] - n + 1 for room, n in counts.items()}
        rows = []
        read_to: dict[tuple[str, str], int] = {}
        for room, creator, content, mentions, cmid in sorted(drafts, key=lambda d: d[0]):
            seq = next_seq[room]
            next_seq[room] = seq + 1
            rows.append((new_id(), room, creator, content, cmid, now, seq, mentions))
            read_to[(room, creator)] = seq
        before = execute(LAST_POSITION).fetchone()[0]
        connection.executemany(INSERT, rows)
        execute(INDEX, (before,))
        connection.executemany(MARK_READ, [(s, r, u) for (r, u), s in read_to.items()])
        execute("COMMIT")
    except BaseException:
        execute("ROLLBACK")
        raise


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("db")
    ap.add_argument("plan")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--checks", action="store_true")
    ap.add_argument("--checkpoint-thread", action="store_true")
    args = ap.parse_args()
    plan = json.loads(open(args.plan).read())
    batches = [b for b in plan["batches"] if b]
    if not batches:
        print(json.dumps({"error": "empty plan"}))
        return 1
    new_id = uuid7 if plan.get("id_version") == 7 else (lambda: str(uuid.uuid4()))
    connection = connect(args.db)
    stop = threading.Event()
    checkpointer = None
    if args.checkpoint_thread:
        connection.execute("PRAGMA wal_autocheckpoint=10000")

        def checkpoints() -> None:
            own = connect(args.db)
            while not stop.wait(0.1):
                own.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            own.close()

        checkpointer = threading.Thread(target=checkpoints)
        checkpointer.start()
    rows = done = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    deadline = t0 + max(0.1, args.duration)
    while time.perf_counter() < deadline:
        batch = batches[done % len(batches)]
        write_batch(connection, batch, new_id, args.checks)
        rows += len(batch)
        done += 1
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    stop.set()
    if checkpointer is not None:
        checkpointer.join()
    connection.close()
    print(
        json.dumps(
            {
                "rows": rows,
                "batches": done,
                "seconds": round(elapsed, 3),
                "rows_per_s": round(rows / elapsed),
                "mean_batch": round(rows / done, 2),
                "cpu_pct": round(cpu / elapsed * 100, 1),
                "checks": args.checks,
                "checkpoint_thread": args.checkpoint_thread,
                "id_version": plan.get("id_version", 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
