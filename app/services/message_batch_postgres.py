"""The PostgreSQL batch: `BatchOps` over SQLAlchemy Core, inside `run_sync` on the async engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, tuple_

from app.schemas import MessageOut
from app.services import message_rows
from app.services.message_batch import Draft
from app.services.message_sql import (
    ALLOCATE_SEQS,
    CLAIM_ATTACHMENT,
    INSERT_MESSAGES,
    MARK_READ,
    MEMBERSHIPS,
    MESSAGES,
    RELEASE_ATTACHMENTS,
    SELECT_MEMBERSHIPS,
    SELECT_MESSAGES,
)


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
