"""Sending messages, reading history, and replaying what a reconnecting client missed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.aio import KeptLoop
from app.config import Settings
from app.db import Database, Query, in_list
from app.errors import CampfireError, ErrorCode, invalid, room_access_denied
from app.metrics import Metrics
from app.models import new_id
from app.notifier import Notifier
from app.outage import best_effort
from app.schemas import MessageOut
from app.services import message_rows
from app.services.auth import Principal
from app.services.message_store import MessageStore
from app.services.rooms import RoomService, readable
from app.services.typing import TypingService
from app.state import RateDecision, RealtimeState

if TYPE_CHECKING:
    from app.services.attachments import AttachmentService

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

    # In wire form (`wire(MessageOut)`): a reconnect storm replays hundreds of thousands, and a
    # model built then dumped per message cost several times the dict (message_rows).
    messages: list[dict[str, Any]] = field(default_factory=list)
    # PROTOCOL.md 9.1: messages changed after the client's last_rev, per room ascending by rev.
    updates: list[dict[str, Any]] = field(default_factory=list)
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
        # Fills in a just-stored message's attachments; set by Services.build.
        self.attachments: AttachmentService | None = None
        # Per room, the publications not yet made, drained in order by one task per room.
        self._room_queue: dict[str, deque[Callable[[], Awaitable[None]]]] = {}
        self._loop = KeptLoop()
        # Called with each newly stored message, after its broadcast is started (the push
        # batcher of jobs/push.py); must not block.
        self.on_stored: list[Callable[[MessageOut], None]] = []
        # Called after a new message's broadcast; the work each returns (None: nothing to do)
        # runs off the sender's path (bots' webhooks).
        self.stored_hooks: list[Callable[[MessageOut], Awaitable[None] | None]] = []

    @property
    def store(self) -> MessageStore:
        return self._store

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
        mention_ids: list[str] | None = None,
        attachment_ids: Sequence[str] = (),
    ) -> SendResult:
        """Store a message durably, then broadcast it. Idempotent on client_message_id.

        `mention_ids` must name members of the room (checked in the batch's transaction)."""
        client_message_id = client_message_id or new_id()
        rate_key = f"messages:{actor.user_id}"
        # The rate window lives in Redis: while it is away, sending goes on unlimited (the
        # database, which holds the messages, is up) rather than fail every send.
        decision = await best_effort(
            self._state.acquire_rate(
                rate_key, self._settings.message_rate, self._settings.rate_window_seconds
            ),
            "message rate check",
            RateDecision(True),
        )
        if not decision.allowed:
            # A resend of a stored message is answered even over the limit.
            existing = await self._find_sent(actor.user_id, client_message_id)
            if existing is not None:
                return await self._resend(existing, room_id, content)
            self._metrics.rate_limit_hits.labels("messages").inc()
            raise CampfireError(
                ErrorCode.rate_limit_exceeded,
                "too many messages; slow down",
                retry_after=decision.retry_after,
            )
        started = time.perf_counter()
        stored = False
        try:
            outcome = await self._store.write(
                actor.user_id,
                room_id,
                content,
                client_message_id,
                tuple(mention_ids or ()),
                tuple(attachment_ids),
            )
            stored = outcome.kind == "stored"
        finally:
            self._metrics.commit_latency.observe(time.perf_counter() - started)
            # Only stored messages count against the rate (PROTOCOL.md section 6).
            if decision.token and not stored:
                await self._state.release_rate(rate_key, decision.token)
        if outcome.kind == "existing":
            assert outcome.message is not None
            return await self._resend(outcome.message, room_id, content)
        if outcome.kind == "not_member":
            await self._rooms.require_member(actor, room_id)  # raises the precise error
            raise room_access_denied()  # membership changed while we looked
        if outcome.kind == "bad_mentions":
            raise invalid("mention_ids: every mentioned user must be a member of the room")
        if outcome.kind == "bad_attachments":
            assert self.attachments is not None
            raise await self.attachments.why_not_attachable(actor, room_id, attachment_ids)
        assert outcome.message is not None
        message = outcome.message
        if attachment_ids and self.attachments is not None:
            await self.attachments.for_messages([message])
        self._metrics.messages_stored.inc(via)
        # The sender's ack follows the commit, not the fan-out: the broadcast runs right after
        # this returns.
        self._broadcast(message)
        for listener in self.on_stored:
            listener(message)
        return SendResult(message, created=True)

    def _broadcast(self, message: MessageOut) -> None:
        self.in_room_order(message.room_id, lambda: self._publish(message))

    def in_room_order(self, room_id: str, publish: Callable[[], Awaitable[None]]) -> None:
        """Run `publish` in the background, after the room's earlier publications.

        Each broadcast awaits I/O (with Redis: the typing state and the pub/sub publish, over
        pooled connections), so two broadcasts of one room could overtake each other; one
        task per room drains the room's queue, which keeps a room's messages in seq order and
        its changes in rev order (and a message before its changes), while rooms stay
        independent. One task per busy room, not per publication (a task and a wait per
        message were a tenth of the event loop's time in the writes benchmark).
        """
        queue = self._room_queue.get(room_id)
        if queue is not None:
            queue.append(publish)
            return
        queue = self._room_queue[room_id] = deque((publish,))
        task = self._loop.create_task(self._drain(room_id, queue))  # runs for most messages
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _drain(self, room_id: str, queue: deque[Callable[[], Awaitable[None]]]) -> None:
        try:
            while queue:
                try:
                    await queue[0]()
                except Exception:
                    log.exception("a publication to room %s failed", room_id)  # its own
                queue.popleft()
        finally:
            # No await since the queue was last seen empty: a later publication starts a task.
            if self._room_queue.get(room_id) is queue:
                del self._room_queue[room_id]

    async def _publish(self, message: MessageOut) -> None:
        started = time.perf_counter()
        try:
            # Ending the sender's typing needs the shared state; with Redis away it fails,
            # and must not take the message's own fan-out down with it.
            await self._typing.stop(message.creator_id, message.room_id)
        except Exception as exc:
            log.warning("could not end typing for message %s: %r", message.id, exc)
        try:
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
        works = [work for hook in self.stored_hooks if (work := hook(message)) is not None]
        if works:
            # Its own task: the room's next broadcast does not wait for the hooks.
            task = asyncio.create_task(self._run_hooks(message, works))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    @staticmethod
    async def _run_hooks(message: MessageOut, works: list[Awaitable[None]]) -> None:
        for work in works:
            try:
                await work
            except Exception:
                log.exception("after-send hook %r failed for message %s", work, message.id)

    async def _find_sent(self, creator_id: str, client_message_id: str) -> MessageOut | None:
        params = {"creator": creator_id, "cmid": client_message_id}
        found = await self._db.read(lambda query: message_rows.load(query, FIND_SENT, params))
        return found[0] if found else None

    async def _resend(self, existing: MessageOut, room_id: str, content: str) -> SendResult:
        # An edited or deleted message no longer holds the content it was sent with: its
        # resend is recognised by the room alone (docs/protocol-notes.md).
        changed = existing.edited_at is not None or existing.deleted
        if existing.room_id != room_id or (existing.content != content and not changed):
            raise CampfireError(
                ErrorCode.conflict,
                "client_message_id was already used for a different message",
            )
        self._metrics.duplicate_sends.inc()
        if existing.rev and not existing.boosts:
            # Found by the batch, which reads rows only: answer with the current state.
            params = {"id": existing.id}
            [existing] = await self._db.read(lambda q: message_rows.load(q, BY_ID, params))
        elif self.attachments is not None and not existing.deleted:
            await self.attachments.for_messages([existing])
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
    ) -> list[dict[str, Any]]:
        """Messages ascending by seq: after a seq, before one, between two, or the latest;
        in wire form (`wire(MessageOut)`), as the history page is the hottest read."""
        if limit < 1:
            raise invalid("limit must be at least 1")
        limit = min(limit, HISTORY_MAX_LIMIT)
        sql = f"SELECT {message_rows.COLUMNS_SQL} FROM messages WHERE room_id = :room"
        params: dict[str, Any] = {"room": room_id, "limit": limit}
        if after_seq is not None:
            sql += " AND seq > :after"
            params["after"] = after_seq
        if before_seq is not None:
            sql += " AND seq < :before"
            params["before"] = before_seq
        newest_first = after_seq is None
        sql += f" ORDER BY seq{' DESC' if newest_first else ''} LIMIT :limit"

        def read(query: Query) -> list[dict[str, Any]]:
            # The access check in the same hand-off: the page costs one trip to the database.
            readable(query, room_id, actor.user_id)
            return message_rows.load_wire(query, sql, params)

        messages = await self._db.read(read)
        if newest_first:
            messages.reverse()
        return messages

    async def missed(
        self,
        room_ids: list[str],
        *,
        last_seen: dict[str, int] | None = None,
        last_seen_message_id: str | None = None,
        last_rev: dict[str, int] | None = None,
    ) -> Replay:
        """The replay of PROTOCOL.md section 5 (and 9.1's changes after `last_rev`) for a
        connection subscribed to `room_ids`.

        One `Database.read`: this runs for every socket that (re)connects."""
        cap = self._settings.replay_max_per_room
        default = self._settings.replay_default

        def read(query: Query) -> Replay:
            replay = Replay()
            # The rooms' heads first: a room whose cursors are at its head has nothing to
            # replay, and most rooms of a reconnecting client have none (one statement for
            # all of them instead of one or two per room). A message stored after this read
            # reaches the connection live, since it subscribed to its rooms before.
            # [last_seq, last_rev] per room; raised below to what the replay holds.
            heads = {room_id: [0, 0] for room_id in room_ids}
            if room_ids:
                ids, params = in_list("room", room_ids)
                for room_id, seq, rev in query(LAST_SEQS.format(ids=ids), params):
                    heads[room_id] = [seq or 0, rev or 0]
            rows: list[Sequence[Any]] = []
            position = None
            if last_seen is None and last_seen_message_id:
                found = query(POSITION_OF, {"id": last_seen_message_id})
                position = found[0][0] if found else None
            for room_id in room_ids:
                if last_seen is not None and room_id in last_seen:
                    if last_seen[room_id] >= heads[room_id][0]:
                        continue
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
            replay.messages = message_rows.hydrate_wire(query, rows)
            for room_id in room_ids:
                if last_rev is not None and room_id in last_rev:
                    if last_rev[room_id] >= heads[room_id][1]:
                        continue
                    params = {"room": room_id, "after": last_rev[room_id], "limit": cap + 1}
                    changed = message_rows.load_wire(query, CHANGED_AFTER_REV, params)
                    if len(changed) > cap:
                        replay.truncated = True
                    replay.updates.extend(changed[:cap])
            # What was replayed may be newer than the heads read first: report the newest.
            for message in replay.messages:
                head = heads[message["room_id"]]
                head[0] = max(head[0], message["seq"])
            for message in replay.updates:
                head = heads[message["room_id"]]
                head[1] = max(head[1], message["rev"])
            replay.rooms = [
                {"room_id": room_id, "last_seq": heads[room_id][0], "last_rev": heads[room_id][1]}
                for room_id in room_ids
            ]
            return replay

        return await self._db.read(read)


# Plain SQL for Database.read (see there why): message_rows.COLUMNS, then position.
_COLUMNS = f"{message_rows.COLUMNS_SQL}, position"
BY_ID = f"SELECT {message_rows.COLUMNS_SQL} FROM messages WHERE id = :id"
FIND_SENT = (
    f"SELECT {message_rows.COLUMNS_SQL} FROM messages"
    " WHERE creator_id = :creator AND client_message_id = :cmid"
)
CHANGED_AFTER_REV = (
    f"SELECT {message_rows.COLUMNS_SQL} FROM messages WHERE room_id = :room AND rev > :after"
    " ORDER BY rev LIMIT :limit"
)
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
LAST_SEQS = "SELECT id, last_seq, last_rev FROM rooms WHERE id IN {ids}"
