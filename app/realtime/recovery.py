"""Fan-out that notices what it lost (REDIS_URL set).

With several web processes a room's `NewMessage` reaches another process's sockets only
through Redis pub/sub. Three things lose such messages while the sender's ack already went out:
a publish during a Redis outage (python-socketio logs it and moves on), a subscriber still in
its reconnect backoff after Redis came back, and a web process killed between a commit and
its publish. A client learns of the loss only from a later seq, so in a room that then falls
quiet it would never learn.

`engineio_seam.pubsub_recovery.PubSubRecovery` (mixed into the Redis manager) makes failed
publishes visible and keeps the subscriber's reconnects short, and lets this module see each
delivery. `FanoutAudit` closes the gap: each process remembers which seqs
of each room it has delivered to its sockets, compares them every few seconds with the
database, and delivers what is missing to its own sockets (clients drop duplicates by id, and
order by seq). A lost message thus reaches everyone within about two audit intervals.

A message counts as lost once the database has had it for a whole interval. On a loaded
process the subscription lags further behind than that, and the audit would deliver messages
that were only late, a second time, adding work where there is least room for it (the chaos
harness saw hundreds a pass). So when a message the audit delivered then arrives by the
subscription after all, the audit waits twice as many intervals before calling a message
lost (up to MAX_AUDITS_BACK), and halves the wait again after DECAY_AUDITS audits with no
such late arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app.db import in_list
from app.notifier import ROOM_PREFIX
from app.services import Services

log = logging.getLogger(__name__)

NAMESPACE = "/"
# Rooms per database read of the audit, and missing messages delivered per room and audit.
AUDIT_CHUNK = 500
MAX_REPAIR_PER_ROOM = 500
LAST_SEQS = "SELECT id, last_seq FROM rooms WHERE id IN {ids}"
MAX_AUDITS_BACK = 16
DECAY_AUDITS = 30
# Seqs the audit delivered, kept to recognise them arriving late; older ones are forgotten.
REPAIRED_MEMORY = 10_000


@dataclass(slots=True)
class _Seen:
    """The seqs of one room delivered here: all up to `low`, and those in `above`."""

    low: int
    above: set[int] = field(default_factory=set)
    # The database's last seq at the latest audits, oldest first: the one `back` audits ago
    # is what has had that many intervals to arrive.
    history: deque[int] = field(default_factory=lambda: deque(maxlen=MAX_AUDITS_BACK + 1))
    # Seqs this audit delivered itself.
    repaired: set[int] = field(default_factory=set)

    @classmethod
    def starting(cls, seq: int) -> _Seen:
        seen = cls(low=seq)
        seen.history.append(seq)
        return seen

    def add(self, seq: int) -> None:
        if seq == self.low + 1:
            self.low = seq
            while self.low + 1 in self.above:
                self.low += 1
                self.above.discard(self.low)
        elif seq > self.low:
            self.above.add(seq)


class FanoutAudit:
    def __init__(self, manager: Any, services: Services, interval: float) -> None:
        self._manager = manager
        self._services = services
        self._interval = interval
        self._rooms: dict[str, _Seen] = {}
        self._back = 1  # audits a seq must be in the database before it counts as lost
        self._late = 0  # repaired messages that arrived by the subscription after all
        self._clean = 0  # audits in a row with no such late arrival
        self._task: asyncio.Task[None] | None = None
        metrics = services.metrics
        manager.on_emit_handled = self._delivered
        manager.on_publish_failed = lambda _data: metrics.emit_failures.inc()
        manager.on_resubscribed = self._wake
        self._wakeup = asyncio.Event()

    @staticmethod
    def supports(manager: Any) -> bool:
        """Only a manager that reports its deliveries can be audited (not the stock path's):
        auditing blind would deliver every message a second time."""
        from app.realtime.engineio_seam.pubsub_recovery import PubSubRecovery

        return isinstance(manager, PubSubRecovery)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _wake(self) -> None:
        # The subscription is back: audit soon rather than a whole interval later.
        self._wakeup.set()

    def _delivered(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "SyncComplete":
            self._synced(message)
            return
        if event != "NewMessage":
            return
        room = message.get("room")
        if not isinstance(room, str) or not room.startswith(ROOM_PREFIX):
            return
        seen = self._rooms.get(room[len(ROOM_PREFIX) :])
        if seen is None:
            return  # not audited yet: its baseline will include this
        data = message.get("data")
        payload = data[0] if isinstance(data, list) and data else data
        seq = payload.get("message", {}).get("seq") if isinstance(payload, dict) else None
        if isinstance(seq, int):
            if seq in seen.repaired:
                seen.repaired.discard(seq)
                self._late += 1
            seen.add(seq)

    def _synced(self, message: dict[str, Any]) -> None:
        """A socket here was replayed up to each room's `last_seq`: anything later reaches it
        by fan-out only. A room not audited yet starts from there, so that a message lost
        before its first audit is not taken for delivered."""
        data = message.get("data")
        payload = data[0] if isinstance(data, list) and data else data
        rooms = payload.get("rooms") if isinstance(payload, dict) else None
        for room in rooms if isinstance(rooms, list) else ():
            room_id, seq = room.get("room_id"), room.get("last_seq")
            if isinstance(room_id, str) and isinstance(seq, int) and room_id not in self._rooms:
                self._rooms[room_id] = _Seen.starting(seq)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._interval)
            self._wakeup.clear()
            try:
                await self.audit()
            except Exception as exc:
                log.warning("fan-out audit failed (%r); next one in %.0f s", exc, self._interval)

    def _local_rooms(self) -> list[str]:
        rooms = self._manager.rooms.get(NAMESPACE, {})
        return [
            name[len(ROOM_PREFIX) :]
            for name, members in list(rooms.items())
            if isinstance(name, str) and name.startswith(ROOM_PREFIX) and members
        ]

    async def audit(self) -> int:
        """One pass; returns how many messages were delivered that had been lost here."""
        local = self._local_rooms()
        for gone in set(self._rooms) - set(local):
            del self._rooms[gone]
        last: dict[str, int] = {}
        for start in range(0, len(local), AUDIT_CHUNK):
            chunk = local[start : start + AUDIT_CHUNK]
            ids, params = in_list("room", chunk)
            rows = await self._services.db.read(
                lambda query, ids=ids, params=params: query(LAST_SEQS.format(ids=ids), params)
            )
            last.update({room_id: int(seq) for room_id, seq in rows})
        repaired = 0
        for room_id in local:
            current = last.get(room_id, 0)
            seen = self._rooms.get(room_id)
            if seen is None:
                self._rooms[room_id] = _Seen.starting(current)
                continue
            seen.history.append(current)
            if len(seen.history) <= self._back:
                continue
            target = seen.history[-1 - self._back]
            if seen.low < target:
                repaired += await self._repair(room_id, seen, target)
            if len(seen.repaired) > REPAIRED_MEMORY:
                seen.repaired = {s for s in seen.repaired if s > current - REPAIRED_MEMORY}
        self._adapt()
        if repaired:
            self._services.metrics.fanout_repaired.inc(repaired)
            log.warning("fan-out audit delivered %d messages lost on their way here", repaired)
        return repaired

    def _adapt(self) -> None:
        """Wait longer before calling a message lost while lost ones turn out to be late."""
        if self._late:
            if self._back < MAX_AUDITS_BACK:
                self._back = min(self._back * 2, MAX_AUDITS_BACK)
                log.warning(
                    "fan-out audit: %d delivered messages arrived late after all; a message now"
                    " counts as lost after %d intervals",
                    self._late,
                    self._back,
                )
            self._late = self._clean = 0
            return
        self._clean += 1
        if self._clean >= DECAY_AUDITS and self._back > 1:
            self._back //= 2
            self._clean = 0

    async def _repair(self, room_id: str, seen: _Seen, target: int) -> int:
        replay = await self._services.messages.missed([room_id], last_seen={room_id: seen.low})
        delivered = 0
        for message in replay.messages[:MAX_REPAIR_PER_ROOM]:
            seq = message["seq"]
            if seq > target:
                break
            if seq not in seen.above:
                await self._manager.emit(
                    "NewMessage",
                    {"message": message, "room_id": room_id},
                    namespace=NAMESPACE,
                    room=ROOM_PREFIX + room_id,
                    ignore_queue=True,  # this process's sockets only: each process repairs its own
                )
                delivered += 1
                seen.repaired.add(seq)
            seen.add(seq)
        if seen.low < target:  # more than one pass's worth, or rows gone: do not loop on it
            seen.low, seen.above = target, {s for s in seen.above if s > target}
        return delivered
