"""Database engine and sessions: SQLite (default) or PostgreSQL, always through asyncio drivers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Threads that serve `Database.read` on SQLite (WAL lets them read beside the writer).
SQLITE_READERS = 2

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
    cursor.close()


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(
            database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine.sync_engine, "connect", configure_sqlite)
        return engine
    return create_async_engine(
        database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


class Database:
    """Owns the engine; hands out sessions. One per process."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine = create_engine(database_url)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._readers = (
            ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="campfire-reader")
            if self.is_sqlite
            else None
        )
        self._reader_local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []

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

    async def read(self, work: Callable[[Query], T]) -> T:
        """Run `work`, a function of plain read-only SQL, in one hand-off.

        For the reads every connecting socket makes (authentication, its rooms, what it
        missed): on SQLite the whole function runs on a reader thread with the sqlite3
        module, which costs a few microseconds per statement where aiosqlite plus SQLAlchemy
        cost a thread hand-off and ~100 us each; on PostgreSQL it runs on one pooled
        connection. Write the SQL portably; read timestamps with `utc()`.
        """
        if self._readers is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._readers, self._read_sqlite, work)
        async with self.engine.connect() as connection:
            return await connection.run_sync(lambda sync: work(_core_query(sync)))

    def connect_sqlite(self, **options: Any) -> sqlite3.Connection:
        """A plain sqlite3 connection to this database, configured like the engine's, for
        work done whole on one of our own threads."""
        path = make_url(self.url).database or ""
        connection = sqlite3.connect(path, check_same_thread=False, **options)
        configure_sqlite(connection, None)
        return connection

    def _read_sqlite(self, work: Callable[[Query], T]) -> T:
        connection: sqlite3.Connection | None = getattr(self._reader_local, "connection", None)
        if connection is None:
            connection = self.connect_sqlite()
            self._reader_local.connection = connection
            self._reader_connections.append(connection)
        return work(lambda sql, params: connection.execute(sql, params).fetchall())

    async def close(self) -> None:
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            for connection in self._reader_connections:
                connection.close()
        await self.engine.dispose()


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
