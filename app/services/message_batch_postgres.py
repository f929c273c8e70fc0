"""The PostgreSQL batch: `BatchOps` straight on the pooled connection's asyncpg driver.

One statement per operation whatever the batch holds (keys, pairs and rows go in as arrays
through `unnest`), each a prepared statement of asyncpg's own cache: a batch of messages in ten
rooms costs eight round trips (BEGIN, six statements, COMMIT) where SQLAlchemy Core sent one
`UPDATE rooms` per room, with SQLAlchemy's own work around each statement.

`write_batch` stays synchronous (the SQLite batch runs it on a thread): `message_store` runs it
in a greenlet (`greenlet_spawn`) and each operation awaits its statement with `await_`, which
is how SQLAlchemy's own `run_sync` runs sync code on an async driver.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.util import await_

from app.schemas import MessageOut
from app.services import message_rows
from app.services.message_batch import Draft
from app.services.message_sql import (
    PG_ALLOCATE,
    PG_CLAIM,
    PG_EXISTING,
    PG_INSERT,
    PG_LOCK_ROOMS,
    PG_MARK_READ,
    PG_MEMBERS,
    PG_RELEASE,
)


class PgBatch:
    """PostgreSQL through asyncpg, inside the caller's transaction on `connection`."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    def existing(self, keys: list[tuple[str, str]]) -> list[MessageOut]:
        creators, cmids = [k[0] for k in keys], [k[1] for k in keys]
        rows = await_(self._connection.fetch(PG_EXISTING, creators, cmids))
        return [message_rows.from_row(row) for row in rows]

    def memberships(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        rooms, users = [p[0] for p in pairs], [p[1] for p in pairs]
        rows = await_(self._connection.fetch(PG_MEMBERS, rooms, users))
        return {(row[0], row[1]) for row in rows}

    def allocate_seqs(self, counts: dict[str, int], now: datetime) -> dict[str, int]:
        rooms = sorted(counts)
        if len(rooms) > 1:
            # The rooms' row locks in id order first: two processes' batches sharing rooms
            # wait for each other instead of deadlocking (the UPDATE's own order is the plan's).
            await_(self._connection.fetch(PG_LOCK_ROOMS, rooms))
        rows = await_(self._connection.fetch(PG_ALLOCATE, rooms, [counts[r] for r in rooms], now))
        if len(rows) != len(rooms):
            raise LookupError("a room of this batch does not exist")
        return {room_id: int(last_seq) for room_id, last_seq in rows}

    def insert(self, rows: list[dict[str, Any]]) -> None:
        # A batch shares one created_at (write_batch gives every row `now`).
        [created_at] = {r["created_at"] for r in rows}
        columns = [[r[name] for r in rows] for name in _INSERT_COLUMNS]
        await_(self._connection.execute(PG_INSERT, *columns, created_at))

    def mark_read(self, marks: list[tuple[int, str, str]]) -> None:
        seqs, rooms, users = ([m[i] for m in marks] for i in range(3))
        await_(self._connection.execute(PG_MARK_READ, rooms, users, seqs))

    def claim_attachments(self, message_id: str, draft: Draft) -> bool:
        fetchval = self._connection.fetchval
        for position, attachment_id in enumerate(draft.attachment_ids):
            claimed = await_(fetchval(PG_CLAIM, message_id, position, attachment_id,
                                      draft.room_id, draft.creator_id))  # fmt: skip
            if claimed is None:
                await_(self._connection.execute(PG_RELEASE, message_id))
                return False
        return True


# PG_INSERT's array parameters, in order ($8 is the batch's created_at).
_INSERT_COLUMNS = (
    "id",
    "room_id",
    "creator_id",
    "content",
    "client_message_id",
    "seq",
    "mention_ids",
)
