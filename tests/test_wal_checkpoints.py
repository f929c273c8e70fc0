"""WAL checkpoints off the commit path (app/wal_checkpoints.py), on a real SQLite file: a
commit past SQLite's default 1,000 pages no longer copies the log into the database file
itself; the checkpointer thread does, and stops with the database."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from app.config import async_database_url
from app.db import Database
from tests.support import wait_until

# ~6 MB of rows: past SQLite's default auto-checkpoint (1,000 pages, ~4 MB), under the backstop.
ROWS, ROW_BYTES = 1_500, 4_000


def _write_rows(db: Database) -> None:
    connection = db.connect_sqlite(isolation_level=None)
    try:
        connection.execute("CREATE TABLE blobs (b BLOB)")
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO blobs VALUES (?)", ((bytes(ROW_BYTES),) for _ in range(ROWS))
        )
        connection.execute("COMMIT")
    finally:
        connection.close()


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "campfire-checkpointer"]


async def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "campfire.sqlite3"
    db = Database(async_database_url(f"sqlite:///{path}"))
    try:
        # A reader holds the file open, so closing the writer does not checkpoint either.
        reader = db.connect_sqlite()
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        await asyncio.to_thread(_write_rows, db)
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size > ROWS * ROW_BYTES
        # SQLite's default would have checkpointed inside that commit; nothing moved yet.
        assert path.stat().st_size < ROWS * ROW_BYTES / 10

        db.start_checkpoints()
        assert len(_checkpointers()) == 1
        await wait_until(lambda: path.stat().st_size > ROWS * ROW_BYTES)
        count = reader.execute("SELECT count(*) FROM blobs").fetchone()[0]
        assert count == ROWS
        reader.close()
    finally:
        await db.close()
    assert _checkpointers() == []


async def test_connections_keep_a_backstop(tmp_path: Path) -> None:
    db = Database(async_database_url(f"sqlite:///{tmp_path / 'campfire.sqlite3'}"))
    try:
        connection = db.connect_sqlite()
        pages = connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        connection.close()
        assert pages == 10_000
    finally:
        await db.close()
