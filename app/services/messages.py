"""Sending messages, reading history, and replaying what a reconnecting client missed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import desc, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app import models
from app.config import Settings
from app.db import Database
from app.errors import CampfireError, ErrorCode, invalid
from app.metrics import Metrics
from app.models import new_id, utcnow
from app.notifier import Notifier
from app.schemas import MessageOut
from app.services.auth import Principal
from app.services.rooms import RoomService
from app.services.typing import TypingService
from app.state import RealtimeState

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class SendResult:
    message: MessageOut
    created: bool  # False for an idempotent resend of a known client_message_id


@dataclass(slots=True)
class Replay:
    """What a (re)connecting client missed, and the state it is in sync with afterwards."""

    messages: list[MessageOut] = field(default_factory=list)
    rooms: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False


class MessageService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        state: RealtimeState,
        notifier: Notifier,
        metrics: Metrics,
        rooms: RoomService,
        typing: TypingService,
    ) -> None:
        self._settings = settings
        self._db = db
        self._state = state
        self._notifier = notifier
        self._metrics = metrics
        self._rooms = rooms
        self._typing = typing
        # SQLite has one writer at a time; queueing writers here instead of in SQLite's
        # busy loop keeps commits fair and fast. PostgreSQL serialises on the room row.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if db.is_sqlite else None

    # ---- sending ------------------------------------------------------------------

    async def send(
        self,
        actor: Principal,
        room_id: str,
        content: str,
        client_message_id: str | None = None,
        *,
        via: str,
    ) -> SendResult:
        """Store a message durably, then broadcast it. Idempotent on client_message_id."""
        client_message_id = client_message_id or new_id()
        for _attempt in range(3):
            existing = await self._find_sent(actor.user_id, client_message_id)
            if existing is not None:
                return self._resend(existing, room_id, content)
            await self._rooms.require_member(actor, room_id)
            decision = await self._state.acquire_rate(
                f"messages:{actor.user_id}",
                self._settings.message_rate,
                self._settings.rate_window_seconds,
            )
            if not decision.allowed:
                self._metrics.rate_limit_hits.labels("messages").inc()
                raise CampfireError(
                    ErrorCode.rate_limit_exceeded,
                    "too many messages; slow down",
                    retry_after=decision.retry_after,
                )
            try:
                stored = await self._store(actor.user_id, room_id, content, client_message_id)
            except IntegrityError:
                # The same client_message_id was committed concurrently: answer with it.
                if decision.token:
                    await self._state.release_rate(f"messages:{actor.user_id}", decision.token)
                continue
            except BaseException:
                if decision.token:
                    await self._state.release_rate(f"messages:{actor.user_id}", decision.token)
                raise
            message = MessageOut.of(stored)
            self._metrics.messages_stored.labels(via).inc()
            await self._publish(message)
            return SendResult(message, created=True)
        raise CampfireError(ErrorCode.internal_error, "could not store the message; retry")

    async def _store(
        self, creator_id: str, room_id: str, content: str, client_message_id: str
    ) -> models.Message:
        started = time.perf_counter()
        if self._write_lock is None:
            stored = await self._insert(creator_id, room_id, content, client_message_id)
        else:
            async with self._write_lock:
                stored = await self._insert(creator_id, room_id, content, client_message_id)
        self._metrics.commit_latency.observe(time.perf_counter() - started)
        return stored

    async def _insert(
        self, creator_id: str, room_id: str, content: str, client_message_id: str
    ) -> models.Message:
        now = utcnow()
        async with self._db.session() as db:
            # The UPDATE comes first so the transaction takes the room's write lock before
            # reading anything: seq allocation and insert are one atomic step.
            seq = (
                await db.execute(
                    update(models.Room)
                    .where(col(models.Room.id) == room_id)
                    .values(last_seq=models.Room.last_seq + 1, last_message_at=now)
                    .returning(models.Room.last_seq)
                )
            ).scalar_one()
            message = models.Message(
                room_id=room_id,
                creator_id=creator_id,
                content=content,
                client_message_id=client_message_id,
                created_at=now,
                seq=seq,
            )
            db.add(message)
            await db.commit()
        return message

    async def _publish(self, message: MessageOut) -> None:
        started = time.perf_counter()
        await self._typing.stop(message.creator_id, message.room_id)
        await self._notifier.to_room(
            message.room_id,
            "NewMessage",
            {"message": message.model_dump(mode="json"), "room_id": message.room_id},
        )
        self._metrics.delivery_latency.observe(time.perf_counter() - started)

    async def _find_sent(self, creator_id: str, client_message_id: str) -> models.Message | None:
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(models.Message).where(
                        models.Message.creator_id == creator_id,
                        models.Message.client_message_id == client_message_id,
                    )
                )
            ).first()

    def _resend(self, existing: models.Message, room_id: str, content: str) -> SendResult:
        if existing.room_id != room_id or existing.content != content:
            raise CampfireError(
                ErrorCode.conflict,
                "client_message_id was already used for a different message",
            )
        self._metrics.duplicate_sends.inc()
        return SendResult(MessageOut.of(existing), created=False)

    # ---- reading ------------------------------------------------------------------

    async def history(
        self,
        actor: Principal,
        room_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = HISTORY_DEFAULT_LIMIT,
    ) -> list[MessageOut]:
        """Messages ascending by seq: after a seq, before one, between two, or the latest."""
        if limit < 1:
            raise invalid("limit must be at least 1")
        limit = min(limit, HISTORY_MAX_LIMIT)
        await self._rooms.require_readable(actor, room_id)
        query = select(models.Message).where(models.Message.room_id == room_id)
        if after_seq is not None:
            query = query.where(models.Message.seq > after_seq)
        if before_seq is not None:
            query = query.where(models.Message.seq < before_seq)
        newest_first = after_seq is None
        query = query.order_by(
            desc(models.Message.seq) if newest_first else models.Message.seq
        ).limit(limit)
        async with self._db.session() as db:
            rows = list((await db.exec(query)).all())
        if newest_first:
            rows.reverse()
        return [MessageOut.of(row) for row in rows]

    async def missed(
        self,
        room_ids: list[str],
        *,
        last_seen: dict[str, int] | None = None,
        last_seen_message_id: str | None = None,
    ) -> Replay:
        """The replay of PROTOCOL.md section 5 for a connection subscribed to `room_ids`."""
        cap = self._settings.replay_max_per_room
        replay = Replay()
        rows: list[models.Message] = []
        async with self._db.session() as db:
            position = None
            if last_seen is None and last_seen_message_id:
                position = (
                    await db.exec(
                        select(models.Message.position).where(
                            models.Message.id == last_seen_message_id
                        )
                    )
                ).first()
            for room_id in room_ids:
                query = select(models.Message).where(models.Message.room_id == room_id)
                if last_seen is not None and room_id in last_seen:
                    query = query.where(models.Message.seq > last_seen[room_id])
                elif position is not None:
                    query = query.where(col(models.Message.position) > position)
                else:
                    recent = await db.exec(
                        query.order_by(desc(models.Message.seq)).limit(
                            self._settings.replay_default
                        )
                    )
                    rows.extend(reversed(recent.all()))
                    continue
                after = list(
                    (await db.exec(query.order_by(models.Message.seq).limit(cap + 1))).all()
                )
                if len(after) > cap:
                    replay.truncated = True
                rows.extend(after[:cap])
            if position is not None:
                # The single cursor replays in insertion order across rooms.
                rows.sort(key=lambda m: m.position or 0)
            replay.messages = [MessageOut.of(m) for m in rows]
            if room_ids:
                last_seqs = await db.exec(
                    select(models.Room.id, models.Room.last_seq).where(
                        col(models.Room.id).in_(room_ids)
                    )
                )
                by_id = dict(last_seqs.all())
                replay.rooms = [
                    {"room_id": room_id, "last_seq": by_id.get(room_id, 0)} for room_id in room_ids
                ]
        return replay
