"""Database engine and sessions: SQLite (default) or PostgreSQL, always through asyncio drivers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.wal_checkpoints import AUTOCHECKPOINT_BACKSTOP_PAGES, WalCheckpointer

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Threads that serve `Database.read` on SQLite (WAL lets them read beside the writer).
SQLITE_READERS = 2
# SQL time a read may spend on the event loop before it is handed to a reader thread, and
# how often (SQLite virtual machine steps) the budget is checked.
INLINE_BUDGET_S = 0.002
PROGRESS_STEPS = 1_000

T = TypeVar("T")
# Runs one SQL statement (named `:params`) and returns its rows as tuples.
Query = Callable[[str, Mapping[str, Any]], Sequence[Sequence[Any]]]


def configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; the busy timeout makes a second
    # writer wait instead of failing; SQLite leaves foreign keys off unless asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # In WAL mode NORMAL is durable against process crashes (kill -9); only an OS crash
    # or power loss can roll back the last transactions.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoints are a thread's job (app/wal_checkpoints.py), not the commits'.
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_BACKSTOP_PAGES}")
    cursor.close()


def create_engine(
    database_url: str, *, pool_size: int = 10, pool_timeout: float = 30.0
) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(
            database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine.sync_engine, "connect", configure_sqlite)
        return engine
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
    )


class Database:
    """Owns the engine; hands out sessions. One per process."""

    def __init__(
        self, database_url: str, *, pool_size: int = 10, pool_timeout: float = 30.0
    ) -> None:
        self.url = database_url
        self.engine = create_engine(database_url, pool_size=pool_size, pool_timeout=pool_timeout)
        # PostgreSQL: `read` queues here for half the pool (see PoolGate); writes and sessions
        # (`engine.begin()`: messages, session touches) keep the overflow.
        self._gate = None if self.is_sqlite else PoolGate(pool_size)
        self._reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._readers = (
            ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="campfire-reader")
            if self.is_sqlite
            else None
        )
        self._reader_local = threading.local()
        self._inline_connection: sqlite3.Connection | None = None
        self._inline_deadline = 0.0
        # Inline reads stopped and run again on a reader thread (for tests and diagnostics).
        self.inline_handed_over = 0
        self._reader_connections: list[sqlite3.Connection] = []
        self._checkpointer = WalCheckpointer(self.connect_sqlite) if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def read(self, work: Callable[[Query], T], *, inline: bool = True) -> T:
        """Run `work`, a function of plain read-only SQL, in one hand-off.

        For the reads every connecting socket makes (authentication, its rooms, what it
        missed) and the history pages: on SQLite with the sqlite3 module, which costs a few
        microseconds per statement where aiosqlite plus SQLAlchemy cost a thread hand-off and
        ~100 us each; on PostgreSQL on one pooled connection. Write the SQL portably; read
        timestamps with `utc()`; `work` may run twice (see below), so it only reads.

        On SQLite `work` first runs on the event loop itself, for at most `INLINE_BUDGET_S`
        of SQL: most reads take a fraction of a millisecond, less than handing them to a
        thread (the GIL passed back and forth with every sqlite3 call: 10-12% of a
        connection's CPU, docs/benchmarks.md, session 12). One that runs longer is
        interrupted and run again on a reader thread, as is one SQLite answers "busy" (the
        inline connection never waits for a lock). `inline=False` goes to the thread at once,
        for reads known to be big.
        """
        if self._readers is not None:
            if inline:
                done, result = self._read_inline(work)
                if done:
                    return result  # type: ignore[return-value]
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._readers, self._read_sqlite, work)
        # Autocommit: a read needs no BEGIN and ROLLBACK round trips (two of the four a pooled
        # read cost, with the pre-ping), and loses nothing, since under READ COMMITTED each
        # statement of a transaction took its own snapshot anyway.
        assert self._gate is not None
        async with self._gate.held(), self._reads.connect() as connection:
            return await connection.run_sync(lambda sync: work(_core_query(sync)))

    def start_checkpoints(self) -> None:
        """SQLite: checkpoint the WAL on a thread of its own from now until `close`."""
        if self._checkpointer is not None:
            self._checkpointer.start()

    def connect_sqlite(self, **options: Any) -> sqlite3.Connection:
        """A plain sqlite3 connection to this database, configured like the engine's, for
        work done whole on one of our own threads."""
        path = make_url(self.url).database or ""
        connection = sqlite3.connect(path, check_same_thread=False, **options)
        configure_sqlite(connection, None)
        return connection

    def _read_inline(self, work: Callable[[Query], T]) -> tuple[bool, T | None]:
        """(True, what `work` returned), or (False, None) when it was stopped: past its
        budget, or SQLite busy."""
        self._inline_deadline = time.perf_counter() + INLINE_BUDGET_S
        try:
            connection = self._inline_connection or self._connect_inline()
            return True, work(lambda sql, params: connection.execute(sql, params).fetchall())
        except sqlite3.OperationalError as exc:
            if _given_up(exc):
                self.inline_handed_over += 1
                return False, None
            raise

    def _connect_inline(self) -> sqlite3.Connection:
        # timeout=0: not even its setup waits for a lock (it is on the event loop).
        connection = self.connect_sqlite(timeout=0)
        try:
            connection.execute("PRAGMA busy_timeout=0")  # configure_sqlite set its own
            connection.execute("PRAGMA query_only=1")
        except sqlite3.OperationalError:
            connection.close()
            raise
        connection.set_progress_handler(self._past_budget, PROGRESS_STEPS)
        self._inline_connection = connection
        return connection

    def _past_budget(self) -> bool:
        return time.perf_counter() > self._inline_deadline

    def _read_sqlite(self, work: Callable[[Query], T]) -> T:
        connection: sqlite3.Connection | None = getattr(self._reader_local, "connection", None)
        if connection is None:
            connection = self.connect_sqlite()
            self._reader_local.connection = connection
            self._reader_connections.append(connection)
        return work(lambda sql, params: connection.execute(sql, params).fetchall())

    async def close(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            for connection in self._reader_connections:
                connection.close()
        if self._inline_connection is not None:
            self._inline_connection.close()
        await self.engine.dispose()


class PoolGate:
    """A FIFO queue in front of the connection pool for `Database.read`.

    After a fault, hundreds of sockets reconnect at once, each with a few reads (its token,
    its rooms, its replay) while clients fill gaps over HTTP. Straight at the pool, every read
    past its 20 connections waited in the pool's own queue and failed after `pool_timeout`
    ("QueuePool limit ... reached"): on a starved process, the welcome was then dropped and
    the client reconnected, adding to the burst. Here they wait their turn (cancellable, so
    a handshake's own bound still applies), `capacity` at a time, which leaves the pool's
    overflow to writes; only past `max_waiting` waiters is a read refused at once (an outage
    to callers: `server_overloaded`), so memory stays bounded. A read's work is synchronous
    SQL, so a holder never asks for the gate again (no nesting, no deadlock).
    """

    def __init__(self, capacity: int, max_waiting: int = 5_000) -> None:
        self._slots = asyncio.Semaphore(capacity)
        self._max_waiting = max_waiting
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        if self._waiting >= self._max_waiting:
            raise sqlalchemy.exc.TimeoutError(
                f"{self._waiting} database reads already waiting for a connection"
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


def _given_up(exc: sqlite3.OperationalError) -> bool:
    """An inline read stopped by its budget (SQLITE_INTERRUPT) or a lock (BUSY, LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT)


def _core_query(connection: Connection) -> Query:
    def query(sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        return connection.execute(text(sql), dict(params)).all()

    return query


def utc(value: datetime | str | None) -> datetime | None:
    """A timestamp column from `Database.read`: SQLite gives UTC text without a zone."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`(:name0, :name1, ...)` and its parameters, for `IN` in `Database.read` SQL."""
    params = {f"{name}{i}": value for i, value in enumerate(values)}
    return "(" + ", ".join(f":{key}" for key in params) + ")", params
