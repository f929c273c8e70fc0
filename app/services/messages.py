"""Sending messages, reading history, and replaying what a reconnecting client missed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, select

from app import models
from app.config import Settings
from app.db import Database, Query, in_list, utc
from app.errors import CampfireError, ErrorCode, invalid, room_access_denied
from app.metrics import Metrics
from app.models import new_id
from app.notifier import Notifier
from app.schemas import MessageOut
from app.services.auth import Principal
from app.services.message_store import MessageStore
from app.services.rooms import RoomService
from app.services.typing import TypingService
from app.state import RealtimeState

log = logging.getLogger(__name__)

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
        self._store = MessageStore(db)
        self._publishing: set[asyncio.Task[None]] = set()
        # Per room, the newest broadcast not yet finished: the next one waits for it.
        self._room_tail: dict[str, asyncio.Task[None]] = {}

    async def close(self) -> None:
        # Broadcasts of already acknowledged messages go out before the process stops.
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=5)
        await self._store.close()

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
        rate_key = f"messages:{actor.user_id}"
        decision = await self._state.acquire_rate(
            rate_key, self._settings.message_rate, self._settings.rate_window_seconds
        )
        if not decision.allowed:
            # A resend of a stored message is answered even over the limit.
            existing = await self._find_sent(actor.user_id, client_message_id)
            if existing is not None:
                return self._resend(existing, room_id, content)
            self._metrics.rate_limit_hits.labels("messages").inc()
            raise CampfireError(
                ErrorCode.rate_limit_exceeded,
                "too many messages; slow down",
                retry_after=decision.retry_after,
            )
        started = time.perf_counter()
        stored = False
        try:
            outcome = await self._store.write(actor.user_id, room_id, content, client_message_id)
            stored = outcome.kind == "stored"
        finally:
            self._metrics.commit_latency.observe(time.perf_counter() - started)
            # Only stored messages count against the rate (PROTOCOL.md section 6).
            if decision.token and not stored:
                await self._state.release_rate(rate_key, decision.token)
        if outcome.kind == "existing":
            assert outcome.message is not None
            return self._resend(outcome.message, room_id, content)
        if outcome.kind == "not_member":
            await self._rooms.require_member(actor, room_id)  # raises the precise error
            raise room_access_denied()  # membership changed while we looked
        assert outcome.message is not None
        message = outcome.message
        self._metrics.messages_stored.inc(via)
        # The sender's ack follows the commit, not the fan-out: the broadcast runs right after
        # this returns.
        self._broadcast(message)
        return SendResult(message, created=True)

    def _broadcast(self, message: MessageOut) -> None:
        """Publish in the background, in seq order per room.

        Each broadcast awaits I/O (with Redis: the typing state and the pub/sub publish, over
        pooled connections), so two broadcasts of one room could overtake each other; chaining
        them per room keeps a room's messages in seq order, while rooms stay independent.
        """
        room_id = message.room_id
        task = asyncio.create_task(self._publish(message, self._room_tail.get(room_id)))
        self._room_tail[room_id] = task
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)
        task.add_done_callback(lambda done: self._forget_tail(room_id, done))

    def _forget_tail(self, room_id: str, task: asyncio.Task[None]) -> None:
        if self._room_tail.get(room_id) is task:
            del self._room_tail[room_id]

    async def _publish(self, message: MessageOut, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # never raises: a failed broadcast is its own
        started = time.perf_counter()
        try:
            await self._typing.stop(message.creator_id, message.room_id)
            await self._notifier.to_room(
                message.room_id,
                "NewMessage",
                {"message": message.model_dump(mode="json"), "room_id": message.room_id},
            )
        except Exception:
            # Stored and acknowledged already: clients recover it by cursor or seq gap.
            log.exception("broadcast of message %s failed", message.id)
            self._metrics.emit_failures.inc()
        self._metrics.delivery_latency.observe(time.perf_counter() - started)

    async def _find_sent(self, creator_id: str, client_message_id: str) -> MessageOut | None:
        query = SELECT_MESSAGE.where(
            MESSAGES.c.creator_id == creator_id,
            MESSAGES.c.client_message_id == client_message_id,
        )
        async with self._db.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _message_out(row)

    def _resend(self, existing: MessageOut, room_id: str, content: str) -> SendResult:
        if existing.room_id != room_id or existing.content != content:
            raise CampfireError(
                ErrorCode.conflict,
                "client_message_id was already used for a different message",
            )
        self._metrics.duplicate_sends.inc()
        return SendResult(existing, created=False)

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
        query = SELECT_MESSAGE.where(MESSAGES.c.room_id == room_id)
        if after_seq is not None:
            query = query.where(MESSAGES.c.seq > after_seq)
        if before_seq is not None:
            query = query.where(MESSAGES.c.seq < before_seq)
        newest_first = after_seq is None
        query = query.order_by(MESSAGES.c.seq.desc() if newest_first else MESSAGES.c.seq)
        async with self._db.engine.connect() as connection:
            rows = list(await connection.execute(query.limit(limit)))
        if newest_first:
            rows.reverse()
        return [_message_out(row) for row in rows]

    async def missed(
        self,
        room_ids: list[str],
        *,
        last_seen: dict[str, int] | None = None,
        last_seen_message_id: str | None = None,
    ) -> Replay:
        """The replay of PROTOCOL.md section 5 for a connection subscribed to `room_ids`.

        One `Database.read`: this runs for every socket that (re)connects."""
        cap = self._settings.replay_max_per_room
        default = self._settings.replay_default

        def read(query: Query) -> Replay:
            replay = Replay()
            rows: list[Sequence[Any]] = []
            position = None
            if last_seen is None and last_seen_message_id:
                found = query(POSITION_OF, {"id": last_seen_message_id})
                position = found[0][0] if found else None
            for room_id in room_ids:
                if last_seen is not None and room_id in last_seen:
                    params = {"room": room_id, "after": last_seen[room_id], "limit": cap + 1}
                    after = query(MISSED_AFTER_SEQ, params)
                elif position is not None:
                    params = {"room": room_id, "after": position, "limit": cap + 1}
                    after = query(MISSED_AFTER_POSITION, params)
                else:
                    recent = query(RECENT, {"room": room_id, "limit": default})
                    rows.extend(reversed(recent))
                    continue
                if len(after) > cap:
                    replay.truncated = True
                rows.extend(after[:cap])
            if position is not None:
                # The single cursor replays in insertion order across rooms.
                rows.sort(key=lambda row: row[-1])
            replay.messages = [_replayed(row) for row in rows]
            if room_ids:
                ids, params = in_list("room", room_ids)
                by_id = dict(query(LAST_SEQS.format(ids=ids), params))
                replay.rooms = [
                    {"room_id": room_id, "last_seq": by_id.get(room_id, 0)} for room_id in room_ids
                ]
            return replay

        return await self._db.read(read)


MESSAGES = models.Message.__table__  # type: ignore[attr-defined]
# Plain rows, not ORM objects: replays and history pages are read-only and hot.
SELECT_MESSAGE = select(*(MESSAGES.c[name] for name in (*MessageOut.model_fields, "position")))


# Plain SQL for Database.read (see there why); columns as in MessageOut, then position.
_COLUMNS = ", ".join((*MessageOut.model_fields, "position"))
POSITION_OF = "SELECT position FROM messages WHERE id = :id"
MISSED_AFTER_SEQ = (
    f"SELECT {_COLUMNS} FROM messages WHERE room_id = :room AND seq > :after"
    " ORDER BY seq LIMIT :limit"
)
MISSED_AFTER_POSITION = (
    f"SELECT {_COLUMNS} FROM messages WHERE room_id = :room AND position > :after"
    " ORDER BY seq LIMIT :limit"
)
RECENT = f"SELECT {_COLUMNS} FROM messages WHERE room_id = :room ORDER BY seq DESC LIMIT :limit"
LAST_SEQS = "SELECT id, last_seq FROM rooms WHERE id IN {ids}"


def _replayed(row: Sequence[Any]) -> MessageOut:
    fields = dict(zip(MessageOut.model_fields, row, strict=False))
    fields["created_at"] = utc(fields["created_at"])
    return MessageOut.model_construct(**fields)


def _message_out(row: Row[Any]) -> MessageOut:
    fields = row._mapping
    return MessageOut.model_construct(**{name: fields[name] for name in MessageOut.model_fields})
