"""`Database.read` on SQLite: a read runs on the event loop when it is quick, and on a reader
thread when it is not (past its SQL budget) or cannot be (SQLite busy), with the same answer.
A real SQLite file; the lock is a real second connection's."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.config import Settings
from app.db import Database, Query

WAIT = 10.0
# A statement that runs far past the inline budget (~2 ms): ~3 million recursion steps.
SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n)"
    " SELECT COUNT(*) FROM c"
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "reads.sqlite3"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    setup.execute("INSERT INTO notes (body) VALUES ('first')")
    setup.commit()
    setup.close()
    database = Database(Settings(DATABASE_URL=f"sqlite:///{path}").database_url)
    yield database
    await database.close()


class Recorder:
    """A read that notes the thread of each of its runs."""

    def __init__(self, sql: str, params: dict[str, object] | None = None) -> None:
        self.sql, self.params = sql, params or {}
        self.threads: list[str] = []

    def __call__(self, query: Query) -> list[tuple[object, ...]]:
        self.threads.append(threading.current_thread().name)
        return [tuple(row) for row in query(self.sql, self.params)]


async def test_a_quick_read_runs_on_the_event_loop(db: Database) -> None:
    read = Recorder("SELECT body FROM notes ORDER BY id")
    assert await db.read(read) == [("first",)]
    assert read.threads == [threading.current_thread().name]  # the loop's own thread
    assert db.inline_handed_over == 0


async def test_a_read_past_its_budget_is_run_again_on_a_reader_thread(db: Database) -> None:
    read = Recorder(SLOW, {"n": 3_000_000})
    assert await db.read(read) == [(3_000_000,)]
    loop_thread = threading.current_thread().name
    assert read.threads[0] == loop_thread  # tried inline, stopped by the budget
    assert len(read.threads) == 2 and read.threads[1].startswith("campfire-reader")
    assert db.inline_handed_over == 1
    # The inline connection is fine afterwards: the next quick read stays on the loop.
    quick = Recorder("SELECT COUNT(*) FROM notes")
    assert await db.read(quick) == [(1,)]
    assert quick.threads == [loop_thread]


async def test_inline_false_goes_to_a_reader_thread_at_once(db: Database) -> None:
    read = Recorder("SELECT body FROM notes")
    assert await db.read(read, inline=False) == [("first",)]
    assert len(read.threads) == 1 and read.threads[0].startswith("campfire-reader")


async def test_a_read_sqlite_refuses_on_the_loop_waits_on_a_reader_thread(
    db: Database, tmp_path: Path
) -> None:
    # A connection in exclusive locking mode holds the file (it can take it only while no
    # other connection has the database open): every other connection is "busy" until it
    # closes. The loop must not wait for it; the reader thread does.
    holder = sqlite3.connect(tmp_path / "reads.sqlite3", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO notes (body) VALUES ('second')")
    holder.execute("COMMIT")  # still holds the lock: exclusive mode keeps it
    read = Recorder("SELECT body FROM notes ORDER BY id")
    pending = asyncio.ensure_future(db.read(read))
    try:

        async def handed_over() -> None:
            while db.inline_handed_over == 0:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(handed_over(), WAIT)  # the loop went on meanwhile
        assert not pending.done()
    finally:
        holder.close()
    assert await asyncio.wait_for(pending, WAIT) == [("first",), ("second",)]
    # Refused while opening its connection, before the read itself: it ran once, on a
    # reader thread, and the next read makes the inline connection.
    assert len(read.threads) == 1 and read.threads[0].startswith("campfire-reader")
    quick = Recorder("SELECT COUNT(*) FROM notes")
    assert await db.read(quick) == [(2,)]
    assert quick.threads == [threading.current_thread().name]
