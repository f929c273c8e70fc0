"""Durable message writes with group commit.

Concurrent sends are gathered into one transaction per batch: a handful of statements per
batch instead of several round trips per message, which is what lets SQLite (one writer) and
PostgreSQL sustain thousands of acknowledged messages per second. Every caller still gets its
answer only after the transaction that holds its message has committed.

Per room, seqs are allocated by one `UPDATE rooms SET last_seq = last_seq + k ... RETURNING`
inside the batch's transaction, so they stay gapless and unique across processes: on PostgreSQL
the row lock orders concurrent writers (a batch locks its rooms in id order first, so
batches never deadlock); on SQLite there is one writer at a time anyway.

The batch itself is one synchronous function (`message_batch.write_batch`) over a few small
operations (`BatchOps`). PostgreSQL runs it in a greenlet on a pooled connection's asyncpg
driver, one array (`unnest`) statement per operation whatever the batch holds
(`message_batch_postgres`); SQLite runs it whole on a dedicated writer thread with plain
sqlite3 statements (`message_batch_sqlite`), because aiosqlite would cost a thread hand-off per
statement and SQLAlchemy's per-statement overhead is larger than SQLite's own work for these
one-row lookups. The statements are built once in `message_sql`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import greenlet_spawn

from app.db import Database, Query
from app.models import utcnow
from app.services.message_batch import Draft, Outcome, write_batch
from app.services.message_batch_postgres import PgBatch
from app.services.message_batch_sqlite import SqliteBatch
from app.services.message_sql import sqlite_time

__all__ = ["Draft", "MessageStore", "Outcome", "Tx"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 256
# Another process stored one of the batch's client_message_ids first (see `_run`).
_INTEGRITY = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


@dataclass(slots=True)
class _Pending:
    draft: Draft
    outcome: asyncio.Future[Outcome]


class MessageStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        # The worker's loop, kept: Python 3.11's asyncio.get_running_loop() is a getpid()
        # system call each time (see engineio_seam/owned.py).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sqlite: sqlite3.Connection | None = None  # opened on the writer thread
        self._thread = (
            ThreadPoolExecutor(1, thread_name_prefix="campfire-writer") if db.is_sqlite else None
        )
        self._pg = None if db.is_sqlite else _PgWriter(db)

    async def write(
        self,
        creator_id: str,
        room_id: str,
        content: str,
        cmid: str,
        mention_ids: tuple[str, ...] = (),
        attachment_ids: tuple[str, ...] = (),
    ) -> Outcome:
        """Store one message (or find the one already stored under its client_message_id)."""
        draft = Draft(creator_id, room_id, content, cmid, mention_ids, attachment_ids)
        if self._worker is None or self._worker.done() or self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._worker = self._loop.create_task(self._run())
        pending = _Pending(draft, self._loop.create_future())
        self._queue.put_nowait(pending)
        return await pending.outcome

    async def transact(self, work: Callable[[Tx], T]) -> T:
        """Run `work` (plain SQL through `Tx`) in one write transaction; commit unless it raises.

        For the changes to existing messages (PROTOCOL.md 9.1). On SQLite it runs on the
        writer thread between batches, so it never waits for SQLite's write lock; on
        PostgreSQL on a pooled connection, where row locks order it against the batches.
        """
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._transact_sqlite, work)
        async with self._db.engine.begin() as connection:
            return await connection.run_sync(
                lambda sync: work(Tx(_write_query(sync), for_update=" FOR UPDATE", sqlite=False))
            )

    def _transact_sqlite(self, work: Callable[[Tx], T]) -> T:
        connection = self._sqlite_connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = work(
                Tx(lambda sql, params: connection.execute(sql, params).fetchall(), "", True)
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return result

    def _sqlite_connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            self._sqlite = self._db.connect_sqlite(isolation_level=None)
        return self._sqlite

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self._thread is not None:
            self._thread.submit(self._close_sqlite)
            self._thread.shutdown(wait=True)
        if self._pg is not None:
            await self._pg.release()

    async def _run(self) -> None:
        while True:
            if self._pg is not None and self._queue.empty():
                await self._pg.release()  # nothing more to write for now
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await self._commit([p.draft for p in batch])
            except _INTEGRITY:
                # Another process stored one of these client_message_ids between our check
                # and our insert; redo them one at a time so only that one is affected (and
                # on the second try it is found as existing).
                for pending in batch:
                    await self._commit_alone(pending)
                continue
            except Exception as exc:
                log.exception("storing %d messages failed", len(batch))
                outcomes = [exc] * len(batch)  # type: ignore[list-item]
            for pending, outcome in zip(batch, outcomes, strict=True):
                _resolve(pending, outcome)

    async def _commit_alone(self, pending: _Pending) -> None:
        for attempt in range(2):
            try:
                [outcome] = await self._commit([pending.draft])
            except _INTEGRITY as exc:
                if attempt:
                    _resolve(pending, exc)
                continue
            except Exception as exc:
                _resolve(pending, exc)
                return
            _resolve(pending, outcome)
            return

    async def _commit(self, drafts: list[Draft]) -> list[Outcome]:
        now = utcnow()
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._commit_sqlite, drafts, now)
        assert self._pg is not None
        return await self._pg.commit(drafts, now)

    def _commit_sqlite(self, drafts: list[Draft], now: datetime) -> list[Outcome]:
        connection = self._sqlite_connection()
        # IMMEDIATE takes the write lock up front, so the batch cannot fail half-way for
        # want of it (other writers wait through the busy timeout instead).
        connection.execute("BEGIN IMMEDIATE")
        try:
            outcomes = write_batch(SqliteBatch(connection), drafts, now)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return outcomes

    def _close_sqlite(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


class _PgWriter:
    """PostgreSQL: the pooled connection the batches run on, its asyncpg driver used directly
    (see message_batch_postgres), each batch in a transaction of its own. It is kept while
    batches keep coming (`_run` releases it when the queue is empty): a checkout's pre-ping
    costs three round trips (SQLAlchemy's asyncpg ping: BEGIN, `;`, ROLLBACK), as many as a third
    of a batch's."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: AsyncConnection | None = None

    async def commit(self, drafts: list[Draft], now: datetime) -> list[Outcome]:
        if self._connection is None:
            self._connection = await self._db.engine.connect()
        connection = self._connection
        try:
            driver = (await connection.get_raw_connection()).driver_connection
            async with driver.transaction():
                return await greenlet_spawn(write_batch, PgBatch(driver), drafts, now)
        except (asyncpg.IntegrityConstraintViolationError, LookupError):
            raise  # rolled back; the connection is fine
        except BaseException:
            # SQLAlchemy did not see the driver fail: never give a connection in an unknown
            # state back to the pool (the next batch checks out another, pre-pinged).
            self._connection = None
            with contextlib.suppress(Exception):
                await connection.invalidate()
                await connection.close()
            raise

    async def release(self) -> None:
        """Give the connection back to the pool."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # the pool discards a broken one itself
                await connection.close()


@dataclass(frozen=True, slots=True)
class Tx:
    """One open write transaction, for `MessageStore.transact`'s work."""

    query: Query  # named `:params`; returns rows as tuples (use RETURNING to get any back)
    for_update: str  # " FOR UPDATE" where the database has row locks, else ""
    sqlite: bool

    def time(self, value: datetime) -> Any:
        """A timestamp as this database's columns take it (see SqliteBatch.insert)."""
        return sqlite_time(value) if self.sqlite else value


def _write_query(connection: Connection) -> Query:
    def query(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        result = connection.execute(text(sql), dict(params))
        return result.all() if result.returns_rows else []

    return query


def _resolve(pending: _Pending, outcome: Outcome | BaseException) -> None:
    if pending.outcome.done():
        return
    if isinstance(outcome, BaseException):
        pending.outcome.set_exception(outcome)
    else:
        pending.outcome.set_result(outcome)
