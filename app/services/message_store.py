"""Durable message writes with group commit.

Concurrent sends are gathered into one transaction per batch: at most a handful of statements
per batch instead of several round trips per message, which is what lets SQLite (one writer)
and PostgreSQL sustain thousands of acknowledged messages per second. Every caller still gets
its answer only after the transaction that holds its message has committed.

Per room, seqs are allocated by one `UPDATE rooms SET last_seq = last_seq + k ... RETURNING`
inside the batch's transaction, so they stay gapless and unique across processes: on PostgreSQL
the row lock orders concurrent writers (rooms are locked in id order, so batches never
deadlock); on SQLite there is one writer at a time anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import insert, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app import models
from app.db import Database
from app.models import new_id, utcnow

log = logging.getLogger(__name__)

MAX_BATCH = 256


@dataclass(slots=True)
class Draft:
    creator_id: str
    room_id: str
    content: str
    client_message_id: str
    outcome: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["stored", "existing", "not_member"]
    message: models.Message | None = None


class MessageStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: asyncio.Queue[Draft] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def write(self, creator_id: str, room_id: str, content: str, cmid: str) -> Outcome:
        """Store one message (or find the one already stored under its client_message_id)."""
        draft = Draft(creator_id, room_id, content, cmid)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        self._queue.put_nowait(draft)
        return await draft.outcome

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except IntegrityError:
                # A concurrent process stored one of these client_message_ids between our
                # check and our insert; redo them one at a time so only that one is affected.
                for draft in batch:
                    await self._commit_alone(draft)
            except Exception as exc:
                for draft in batch:
                    if not draft.outcome.done():
                        draft.outcome.set_exception(exc)

    async def _commit_alone(self, draft: Draft) -> None:
        try:
            await self._commit([draft])
        except IntegrityError:
            try:
                await self._commit([draft])  # now the duplicate is visible as existing
            except Exception as exc:
                draft.outcome.set_exception(exc)
        except Exception as exc:
            draft.outcome.set_exception(exc)

    async def _commit(self, batch: list[Draft]) -> None:
        now = utcnow()
        outcomes: dict[int, Outcome] = {}
        async with self._db.session() as db:
            existing = await self._existing(db, batch)
            members = await self._memberships(db, batch)
            fresh: dict[str, list[Draft]] = defaultdict(list)
            seen: dict[tuple[str, str], Draft] = {}
            for draft in batch:
                key = (draft.creator_id, draft.client_message_id)
                if key in existing:
                    outcomes[id(draft)] = Outcome("existing", existing[key])
                elif key in seen:
                    continue  # a duplicate inside this batch: answered from the first one
                elif (draft.room_id, draft.creator_id) not in members:
                    outcomes[id(draft)] = Outcome("not_member")
                else:
                    seen[key] = draft
                    fresh[draft.room_id].append(draft)
            rows = []
            for room_id in sorted(fresh):
                drafts = fresh[room_id]
                last = (
                    await db.execute(
                        update(models.Room)
                        .where(col(models.Room.id) == room_id)
                        .values(last_seq=models.Room.last_seq + len(drafts), last_message_at=now)
                        .returning(models.Room.last_seq)
                    )
                ).scalar_one()
                for offset, draft in enumerate(drafts):
                    message = _message(draft, last - len(drafts) + 1 + offset, now)
                    rows.append(message)
                    outcomes[id(draft)] = Outcome("stored", message)
            if rows:
                await db.execute(insert(models.Message), [_row(m) for m in rows])
            await db.commit()
        for draft in batch:
            outcome = outcomes.get(id(draft))
            if outcome is None:  # in-batch duplicate: the first one's message
                first = seen[(draft.creator_id, draft.client_message_id)]
                outcome = Outcome("existing", outcomes[id(first)].message)
            if not draft.outcome.done():
                draft.outcome.set_result(outcome)

    async def _existing(
        self, db: object, batch: list[Draft]
    ) -> dict[tuple[str, str], models.Message]:
        keys = list({(d.creator_id, d.client_message_id) for d in batch})
        result = await db.exec(  # type: ignore[attr-defined]
            select(models.Message).where(
                tuple_(col(models.Message.creator_id), col(models.Message.client_message_id)).in_(
                    keys
                )
            )
        )
        return {(m.creator_id, m.client_message_id): m for m in result.all()}

    async def _memberships(self, db: object, batch: list[Draft]) -> set[tuple[str, str]]:
        pairs = list({(d.room_id, d.creator_id) for d in batch})
        result = await db.exec(  # type: ignore[attr-defined]
            select(models.Membership.room_id, models.Membership.user_id).where(
                tuple_(col(models.Membership.room_id), col(models.Membership.user_id)).in_(pairs)
            )
        )
        return set(result.all())


def _message(draft: Draft, seq: int, now: datetime) -> models.Message:
    return models.Message(
        id=new_id(),
        room_id=draft.room_id,
        creator_id=draft.creator_id,
        content=draft.content,
        client_message_id=draft.client_message_id,
        created_at=now,
        seq=seq,
    )


def _row(message: models.Message) -> dict[str, object]:
    return {
        "id": message.id,
        "room_id": message.room_id,
        "creator_id": message.creator_id,
        "content": message.content,
        "client_message_id": message.client_message_id,
        "created_at": message.created_at,
        "seq": message.seq,
    }
