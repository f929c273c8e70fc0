"""The SQLite batch: `BatchOps` over the plain sqlite3 module, on the store's writer thread.

aiosqlite would cost a thread hand-off per statement, and SQLAlchemy's per-statement overhead
is larger than SQLite's own work for these one-row lookups.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from app.schemas import MessageOut
from app.services import message_rows
from app.services.message_batch import Draft
from app.services.message_sql import (
    SQLITE_CLAIM,
    SQLITE_EXISTING,
    SQLITE_INDEX,
    SQLITE_INSERT,
    SQLITE_LAST_POSITION,
    SQLITE_MARK_READ,
    SQLITE_MEMBER,
    SQLITE_RELEASE,
    sqlite_time,
)


class SqliteBatch:
    """SQLite through the plain sqlite3 module. SQLite scans the whole table for a multi-row
    `(a, b) IN (VALUES ...)`, so each key is its own indexed lookup (cheap: no round trips)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def existing(self, keys: list[tuple[str, str]]) -> list[MessageOut]:
        found = []
        for key in keys:
            row = self._connection.execute(SQLITE_EXISTING, key).fetchone()
            if row is not None:
                found.append(message_rows.from_row(row))
        return found

    def memberships(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        execute = self._connection.execute
        return {pair for pair in pairs if execute(SQLITE_MEMBER, pair).fetchone() is not None}

    def allocate_seqs(self, counts: dict[str, int], now: datetime) -> dict[str, int]:
        # One statement for the whole batch (SQLite has one writer: no lock order to keep).
        cases = " ".join("WHEN ? THEN ?" for _ in counts)
        marks = ", ".join("?" for _ in counts)
        params: list[Any] = [item for pair in counts.items() for item in pair]
        params += [sqlite_time(now), *counts]
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
            if execute(SQLITE_CLAIM, params).rowcount != 1:
                execute(SQLITE_RELEASE, (message_id,))
                return False
        return True

    def insert(self, rows: list[dict[str, Any]]) -> None:
        # A batch shares one created_at: format each distinct one once.
        times = {t: sqlite_time(t) for t in {r["created_at"] for r in rows}}
        values = [
            (r["id"], r["room_id"], r["creator_id"], r["content"], r["client_message_id"],
             times[r["created_at"]], r["seq"], r["mention_ids"])
            for r in rows
        ]  # fmt: skip
        execute = self._connection.execute
        before = execute(SQLITE_LAST_POSITION).fetchone()[0]
        self._connection.executemany(SQLITE_INSERT, values)
        # The search index, in this transaction, one statement for the whole batch (see
        # migrations/versions/0004_search.py for why not a trigger).
        execute(SQLITE_INDEX, (before,))

    def mark_read(self, marks: list[tuple[int, str, str]]) -> None:
        self._connection.executemany(SQLITE_MARK_READ, marks)
