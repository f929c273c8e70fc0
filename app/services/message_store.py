"""Durable message writes with group commit.

Concurrent sends are gathered into one transaction per batch: a handful of statements per
batch instead of several round trips per message, which is what lets SQLite (one writer) and
PostgreSQL sustain thousands of acknowledged messages per second. Every caller still gets its
answer only after the transaction that holds its message has committed.

Per room, seqs are allocated by one `UPDATE rooms SET last_seq = last_seq + k ... RETURNING`
inside the batch's transaction, so they stay gapless and unique across processes: on PostgreSQL
the row lock orders concurrent writers (rooms are locked in id order, so batches never
deadlock); on SQLite there is one writer at a time anyway.

The batch itself is one synchronous function over a SQLAlchemy Connection. PostgreSQL runs it
through the async engine (`run_sync`); SQLite runs it whole on a dedicated writer thread with the
plain sqlite3 driver, because aiosqlite would cost a thread hand-off for every statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, Select, bindparam, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from app import models
from app.db import Database, create_sync_engine
from app.models import new_id, utcnow
from app.schemas import MessageOut

log = logging.getLogger(__name__)

MAX_BATCH = 256
MESSAGES = models.Message.__table__  # type: ignore[attr-defined]
MEMBERSHIPS = models.Membership.__table__  # type: ignore[attr-defined]
ROOMS = models.Room.__table__  # type: ignore[attr-defined]
MESSAGE_FIELDS = (
    "id",
    "room_id",
    "creator_id",
    "content",
    "client_message_id",
    "created_at",
    "seq",
)

# Built once: constructing a statement costs more than running it on SQLite.
ALLOCATE_SEQS = (
    update(ROOMS)
    .where(ROOMS.c.id == bindparam("room"))
    .values(last_seq=ROOMS.c.last_seq + bindparam("count"), last_message_at=bindparam("now"))
    .returning(ROOMS.c.last_seq)
)
INSERT_MESSAGES = insert(MESSAGES)
SELECT_MESSAGES = select(*(MESSAGES.c[name] for name in MESSAGE_FIELDS))
SELECT_MEMBERSHIPS = select(MEMBERSHIPS.c.room_id, MEMBERSHIPS.c.user_id)


@dataclass(frozen=True, slots=True)
class Draft:
    creator_id: str
    room_id: str
    content: str
    client_message_id: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.creator_id, self.client_message_id)


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["stored", "existing", "not_member"]
    message: MessageOut | None = None


@dataclass(slots=True)
class _Pending:
    draft: Draft
    outcome: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class MessageStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._sqlite = create_sync_engine(db.url) if db.is_sqlite else None
        self._thread = (
            ThreadPoolExecutor(1, thread_name_prefix="campfire-writer") if self._sqlite else None
        )

    async def write(self, creator_id: str, room_id: str, content: str, cmid: str) -> Outcome:
        """Store one message (or find the one already stored under its client_message_id)."""
        pending = _Pending(Draft(creator_id, room_id, content, cmid))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        self._queue.put_nowait(pending)
        return await pending.outcome

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._sqlite is not None:
            self._sqlite.dispose()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await self._commit([p.draft for p in batch])
            except IntegrityError:
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
            except IntegrityError as exc:
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
        if self._sqlite is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._commit_sqlite, drafts, now)
        async with self._db.engine.begin() as connection:
            return await connection.run_sync(write_batch, drafts, now)

    def _commit_sqlite(self, drafts: list[Draft], now: datetime) -> list[Outcome]:
        assert self._sqlite is not None
        with self._sqlite.begin() as connection:
            return write_batch(connection, drafts, now)


def _resolve(pending: _Pending, outcome: Outcome | BaseException) -> None:
    if pending.outcome.done():
        return
    if isinstance(outcome, BaseException):
        pending.outcome.set_exception(outcome)
    else:
        pending.outcome.set_result(outcome)


def write_batch(connection: Connection, drafts: list[Draft], now: datetime) -> list[Outcome]:
    """Store a batch in the caller's transaction; one outcome per draft, in order."""
    existing = _existing(connection, drafts)
    members = _memberships(connection, drafts)
    by_key: dict[tuple[str, str], Outcome] = {}
    fresh: dict[str, list[Draft]] = defaultdict(list)
    for draft in drafts:
        if draft.key in by_key or draft.key in existing:
            continue
        if (draft.room_id, draft.creator_id) not in members:
            by_key[draft.key] = Outcome("not_member")
            continue
        fresh[draft.room_id].append(draft)
        by_key[draft.key] = Outcome("stored")  # placeholder until its seq is known
    rows = []
    for room_id in sorted(fresh):  # a fixed lock order: concurrent batches never deadlock
        room_drafts = fresh[room_id]
        last = connection.execute(
            ALLOCATE_SEQS, {"room": room_id, "count": len(room_drafts), "now": now}
        ).scalar_one()
        first_seq = last - len(room_drafts) + 1
        for offset, draft in enumerate(room_drafts):
            row = {
                "id": new_id(),
                "room_id": draft.room_id,
                "creator_id": draft.creator_id,
                "content": draft.content,
                "client_message_id": draft.client_message_id,
                "created_at": now,
                "seq": first_seq + offset,
            }
            rows.append(row)
            by_key[draft.key] = Outcome("stored", MessageOut.model_construct(**row))
    if rows:
        connection.execute(INSERT_MESSAGES, rows)
    outcomes = []
    answered: set[tuple[str, str]] = set()
    for draft in drafts:
        if draft.key in existing:
            outcomes.append(Outcome("existing", existing[draft.key]))
        elif draft.key in answered and by_key[draft.key].kind == "stored":
            # The same client_message_id twice in one batch: the second is a resend.
            outcomes.append(Outcome("existing", by_key[draft.key].message))
        else:
            outcomes.append(by_key[draft.key])
        answered.add(draft.key)
    return outcomes


def _existing(connection: Connection, drafts: list[Draft]) -> dict[tuple[str, str], MessageOut]:
    keys = list({draft.key for draft in drafts})
    columns = (MESSAGES.c.creator_id, MESSAGES.c.client_message_id)
    rows = _lookup(connection, SELECT_MESSAGES, columns, keys)
    found = (MessageOut.model_construct(**row._mapping) for row in rows)
    return {(m.creator_id, m.client_message_id): m for m in found}


def _memberships(connection: Connection, drafts: list[Draft]) -> set[tuple[str, str]]:
    pairs = list({(draft.room_id, draft.creator_id) for draft in drafts})
    columns = (MEMBERSHIPS.c.room_id, MEMBERSHIPS.c.user_id)
    rows = _lookup(connection, SELECT_MEMBERSHIPS, columns, pairs)
    return {(row.room_id, row.user_id) for row in rows}


_single_key_queries: dict[Select[Any], Select[Any]] = {}


def _lookup(
    connection: Connection,
    query: Select[Any],
    columns: tuple[Any, Any],
    keys: list[tuple[str, str]],
) -> list[Row[Any]]:
    """Rows whose two-column key is one of `keys`, through the two columns' index.

    SQLite scans the whole table for a multi-row `(a, b) IN (VALUES ...)`, so there each key is
    its own indexed lookup (cheap: the batch runs on the writer thread, no round trips).
    PostgreSQL plans the row-value IN well and each statement is a round trip, so it gets one.
    """
    if connection.dialect.name != "sqlite":
        return list(connection.execute(query.where(tuple_(*columns).in_(keys))))
    one = _single_key_queries.get(query)
    if one is None:
        one = query.where(columns[0] == bindparam("first"), columns[1] == bindparam("second"))
        _single_key_queries[query] = one
    rows: list[Row[Any]] = []
    for first, second in keys:
        rows.extend(connection.execute(one, {"first": first, "second": second}))
    return rows
