"""Durable message writes with group commit.

Concurrent sends are gathered into one transaction per batch: a handful of statements per
batch instead of several round trips per message, which is what lets SQLite (one writer) and
PostgreSQL sustain thousands of acknowledged messages per second. Every caller still gets its
answer only after the transaction that holds its message has committed.

Per room, seqs are allocated by one `UPDATE rooms SET last_seq = last_seq + k ... RETURNING`
inside the batch's transaction, so they stay gapless and unique across processes: on PostgreSQL
the row lock orders concurrent writers (rooms are locked in id order, so batches never
deadlock); on SQLite there is one writer at a time anyway.

The batch itself is one synchronous function (`write_batch`) over four small operations.
PostgreSQL runs it through the async engine (`run_sync`) with SQLAlchemy Core statements;
SQLite runs it whole on a dedicated writer thread with plain sqlite3 statements, because
aiosqlite would cost a thread hand-off per statement and SQLAlchemy's per-statement overhead
is larger than SQLite's own work for these one-row lookups.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import Connection, bindparam, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError

from app import models
from app.db import Database, Query
from app.models import new_id, utcnow
from app.schemas import MessageOut
from app.services import message_rows

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 256
MESSAGES = models.Message.__table__  # type: ignore[attr-defined]
MEMBERSHIPS = models.Membership.__table__  # type: ignore[attr-defined]
ROOMS = models.Room.__table__  # type: ignore[attr-defined]
# What a new message's row is written with; the other columns take their defaults (never
# edited, not deleted, rev 0).
MESSAGE_FIELDS = (
    "id",
    "room_id",
    "creator_id",
    "content",
    "client_message_id",
    "created_at",
    "seq",
    "mention_ids",
)

# Built once: constructing a statement costs more than running it on SQLite.
ALLOCATE_SEQS = (
    update(ROOMS)
    .where(ROOMS.c.id == bindparam("room"))
    .values(last_seq=ROOMS.c.last_seq + bindparam("count"), last_message_at=bindparam("now"))
    .returning(ROOMS.c.last_seq)
)
INSERT_MESSAGES = insert(MESSAGES)
SELECT_MESSAGES = select(*(MESSAGES.c[name] for name in message_rows.COLUMNS))
SELECT_MEMBERSHIPS = select(MEMBERSHIPS.c.room_id, MEMBERSHIPS.c.user_id)
MARK_READ = (
    update(MEMBERSHIPS)
    .where(
        MEMBERSHIPS.c.room_id == bindparam("room"),
        MEMBERSHIPS.c.user_id == bindparam("user"),
        MEMBERSHIPS.c.last_read_seq < bindparam("seq"),
    )
    .values(last_read_seq=bindparam("seq"))
)
# An attachment goes to a message only if it is an unused upload of the sender to that room;
# the condition is re-checked under the row lock, so two messages never take the same one.
CLAIM_ATTACHMENT = text(
    "UPDATE attachments SET message_id = :message, position = :position WHERE id = :id"
    " AND room_id = :room AND uploader_id = :uploader AND message_id IS NULL"
)
RELEASE_ATTACHMENTS = text(
    "UPDATE attachments SET message_id = NULL, position = 0 WHERE message_id = :message"
)


@dataclass(frozen=True, slots=True)
class Draft:
    creator_id: str
    room_id: str
    content: str
    client_message_id: str
    mention_ids: tuple[str, ...] = ()
    attachment_ids: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.creator_id, self.client_message_id)


@dataclass(frozen=True, slots=True)
class Outcome:
    # bad_mentions: a mentioned user is not a member of the room; bad_attachments: one of
    # attachment_ids is not an unused upload of the sender to the room.
    kind: Literal["stored", "existing", "not_member", "bad_mentions", "bad_attachments"]
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
        self._sqlite: sqlite3.Connection | None = None  # opened on the writer thread
        self._thread = (
            ThreadPoolExecutor(1, thread_name_prefix="campfire-writer") if db.is_sqlite else None
        )

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
        pending = _Pending(draft)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
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

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await self._commit([p.draft for p in batch])
            except (IntegrityError, sqlite3.IntegrityError):
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
            except (IntegrityError, sqlite3.IntegrityError) as exc:
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
        async with self._db.engine.begin() as connection:
            return await connection.run_sync(lambda sync: write_batch(CoreBatch(sync), drafts, now))

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


@dataclass(frozen=True, slots=True)
class Tx:
    """One open write transaction, for `MessageStore.transact`'s work."""

    query: Query  # named `:params`; returns rows as tuples (use RETURNING to get any back)
    for_update: str  # " FOR UPDATE" where the database has row locks, else ""
    sqlite: bool

    def time(self, value: datetime) -> Any:
        """A timestamp as this database's columns take it (see SqliteBatch.insert)."""
        return _sqlite_time(value) if self.sqlite else value


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


class BatchOps(Protocol):
    """The four statements a batch needs, for one open transaction."""

    def existing(self, keys: list[tuple[str, str]]) -> list[MessageOut]: ...
    def memberships(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]: ...
    def allocate_seqs(self, counts: dict[str, int], now: datetime) -> dict[str, int]:
        """Add `counts[room]` to each room's last_seq; return the new last_seq per room."""
        ...

    def insert(self, rows: list[dict[str, Any]]) -> None: ...
    def claim_attachments(self, message_id: str, draft: Draft) -> bool:
        """Give the draft's attachments to its message, all or none."""
        ...

    def mark_read(self, marks: list[tuple[int, str, str]]) -> None:
        """Move each (seq, room, user) member's last_read_seq forward to seq."""
        ...


def write_batch(ops: BatchOps, drafts: list[Draft], now: datetime) -> list[Outcome]:
    """Store a batch in the caller's transaction; one outcome per draft, in order."""
    found = ops.existing(list({draft.key for draft in drafts}))
    existing = {(m.creator_id, m.client_message_id): m for m in found}
    pairs = {(d.room_id, d.creator_id) for d in drafts}
    pairs.update((d.room_id, user_id) for d in drafts for user_id in d.mention_ids)
    members = ops.memberships(list(pairs))
    by_key: dict[tuple[str, str], Outcome] = {}
    fresh: dict[str, list[Draft]] = defaultdict(list)
    ids: dict[tuple[str, str], str] = {}
    for draft in drafts:
        if draft.key in by_key or draft.key in existing:
            continue
        if (draft.room_id, draft.creator_id) not in members:
            by_key[draft.key] = Outcome("not_member")
            continue
        if any((draft.room_id, user_id) not in members for user_id in draft.mention_ids):
            by_key[draft.key] = Outcome("bad_mentions")
            continue
        message_id = new_id()
        if draft.attachment_ids and not ops.claim_attachments(message_id, draft):
            by_key[draft.key] = Outcome("bad_attachments")
            continue
        ids[draft.key] = message_id
        fresh[draft.room_id].append(draft)
        by_key[draft.key] = Outcome("stored")  # placeholder until its seq is known
    rows = []
    last_seqs = ops.allocate_seqs({room: len(fresh[room]) for room in fresh}, now) if fresh else {}
    for room_id in sorted(fresh):
        room_drafts = fresh[room_id]
        first_seq = last_seqs[room_id] - len(room_drafts) + 1
        for offset, draft in enumerate(room_drafts):
            row = {
                "id": ids[draft.key],
                "room_id": draft.room_id,
                "creator_id": draft.creator_id,
                "content": draft.content,
                "client_message_id": draft.client_message_id,
                "created_at": now,
                "seq": first_seq + offset,
                "mention_ids": message_rows.mentions_json(draft.mention_ids),
            }
            rows.append(row)
            message = MessageOut.model_construct(**{**row, "mention_ids": list(draft.mention_ids)})
            by_key[draft.key] = Outcome("stored", message)
    if rows:
        ops.insert(rows)
        # Sending marks the room read up to the message for its sender (PROTOCOL.md 9.2).
        read_to: dict[tuple[str, str], int] = {}
        for row in rows:
            read_to[(row["room_id"], row["creator_id"])] = row["seq"]  # rows ascend by seq
        ops.mark_read([(seq, room, user) for (room, user), seq in read_to.items()])
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


class CoreBatch:
    """PostgreSQL (and any SQLAlchemy dialect): row-value IN lookups, one round trip each."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def existing(self, keys: list[tuple[str, str]]) -> list[MessageOut]:
        columns = tuple_(MESSAGES.c.creator_id, MESSAGES.c.client_message_id)
        rows = self._connection.execute(SELECT_MESSAGES.where(columns.in_(keys)))
        return [message_rows.from_row(row) for row in rows]

    def memberships(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        columns = tuple_(MEMBERSHIPS.c.room_id, MEMBERSHIPS.c.user_id)
        rows = self._connection.execute(SELECT_MEMBERSHIPS.where(columns.in_(pairs)))
        return {(row.room_id, row.user_id) for row in rows}

    def allocate_seqs(self, counts: dict[str, int], now: datetime) -> dict[str, int]:
        last_seqs = {}
        for room_id in sorted(counts):  # a fixed lock order: concurrent batches never deadlock
            params = {"room": room_id, "count": counts[room_id], "now": now}
            last_seqs[room_id] = int(self._connection.execute(ALLOCATE_SEQS, params).scalar_one())
        return last_seqs

    def insert(self, rows: list[dict[str, Any]]) -> None:
        self._connection.execute(INSERT_MESSAGES, rows)

    def mark_read(self, marks: list[tuple[int, str, str]]) -> None:
        params = [{"seq": seq, "room": room, "user": user} for seq, room, user in marks]
        self._connection.execute(MARK_READ, params)

    def claim_attachments(self, message_id: str, draft: Draft) -> bool:
        execute = self._connection.execute
        for position, attachment_id in enumerate(draft.attachment_ids):
            params = {"message": message_id, "position": position, "id": attachment_id,
                      "room": draft.room_id, "uploader": draft.creator_id}  # fmt: skip
            if execute(CLAIM_ATTACHMENT, params).rowcount != 1:
                execute(RELEASE_ATTACHMENTS, {"message": message_id})
                return False
        return True


# SQLite stores these columns the way SQLAlchemy's SQLite dialect does: UTC, no zone, as text.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_SQLITE_EXISTING = (
    f"SELECT {message_rows.COLUMNS_SQL} FROM messages"
    " WHERE creator_id = ? AND client_message_id = ?"
)
_SQLITE_MEMBER = "SELECT 1 FROM memberships WHERE room_id = ? AND user_id = ?"
_SQLITE_MARK_READ = (
    "UPDATE memberships SET last_read_seq = ?1"
    " WHERE room_id = ?2 AND user_id = ?3 AND last_read_seq < ?1"
)
_SQLITE_INSERT = (
    f"INSERT INTO messages ({', '.join(MESSAGE_FIELDS)})"
    f" VALUES ({', '.join('?' * len(MESSAGE_FIELDS))})"
)
_SQLITE_LAST_POSITION = "SELECT COALESCE(MAX(position), 0) FROM messages"
_SQLITE_INDEX = (
    "INSERT INTO messages_fts(rowid, content) SELECT position, content FROM messages"
    " WHERE position > ?"
)
_SQLITE_CLAIM = (
    "UPDATE attachments SET message_id = ?, position = ? WHERE id = ?"
    " AND room_id = ? AND uploader_id = ? AND message_id IS NULL"
)
_SQLITE_RELEASE = "UPDATE attachments SET message_id = NULL, position = 0 WHERE message_id = ?"


class SqliteBatch:
    """SQLite through the plain sqlite3 module. SQLite scans the whole table for a multi-row
    `(a, b) IN (VALUES ...)`, so each key is its own indexed lookup (cheap: no round trips)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def existing(self, keys: list[tuple[str, str]]) -> list[MessageOut]:
        found = []
        for key in keys:
            row = self._connection.execute(_SQLITE_EXISTING, key).fetchone()
            if row is not None:
                found.append(message_rows.from_row(row))
        return found

    def memberships(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        execute = self._connection.execute
        return {pair for pair in pairs if execute(_SQLITE_MEMBER, pair).fetchone() is not None}

    def allocate_seqs(self, counts: dict[str, int], now: datetime) -> dict[str, int]:
        # One statement for the whole batch (SQLite has one writer: no lock order to keep).
        cases = " ".join("WHEN ? THEN ?" for _ in counts)
        marks = ", ".join("?" for _ in counts)
        params: list[Any] = [item for pair in counts.items() for item in pair]
        params += [_sqlite_time(now), *counts]
        rows = self._connection.execute(
            f"UPDATE rooms SET last_seq = last_seq + CASE id {cases} END,"
            f" last_message_at = ? WHERE id IN ({marks}) RETURNING id, last_seq",
            params,
        ).fetchall()
        if len(rows) != len(counts):
            raise LookupError("a room of this batch does not exist")
        return {room_id: int(last_seq) for room_id, last_seq in rows}

    def claim_attachments(self, message_id: str, draft: Draft) -> bool:
        execute = self._connection.execute
        for position, attachment_id in enumerate(draft.attachment_ids):
            params = (message_id, position, attachment_id, draft.room_id, draft.creator_id)
            if execute(_SQLITE_CLAIM, params).rowcount != 1:
                execute(_SQLITE_RELEASE, (message_id,))
                return False
        return True

    def insert(self, rows: list[dict[str, Any]]) -> None:
        # A batch shares one created_at: format each distinct one once.
        times = {t: _sqlite_time(t) for t in {r["created_at"] for r in rows}}
        values = [
            (r["id"], r["room_id"], r["creator_id"], r["content"], r["client_message_id"],
             times[r["created_at"]], r["seq"], r["mention_ids"])
            for r in rows
        ]  # fmt: skip
        execute = self._connection.execute
        before = execute(_SQLITE_LAST_POSITION).fetchone()[0]
        self._connection.executemany(_SQLITE_INSERT, values)
        # The search index, in this transaction, one statement for the whole batch (see
        # migrations/versions/0004_search.py for why not a trigger).
        execute(_SQLITE_INDEX, (before,))

    def mark_read(self, marks: list[tuple[int, str, str]]) -> None:
        self._connection.executemany(_SQLITE_MARK_READ, marks)


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_SQLITE_TIME)
