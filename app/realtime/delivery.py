"""`Notifier` over python-socketio: chat rooms and users map onto Socket.IO rooms.

Works the same on a web process (its AsyncServer) and in the arq worker (a write-only
AsyncRedisManager), because both offer `emit`, `enter_room`, `leave_room` and `disconnect`
addressed by sid across processes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from app.metrics import Metrics
from app.notifier import room_channel, user_channel
from app.realtime import engineio_seam as seam

log = logging.getLogger(__name__)
NAMESPACE = "/"


class SocketIONotifier:
    def __init__(self, sio: Any, metrics: Metrics) -> None:
        """`sio` is an AsyncServer, or an AsyncRedisManager(write_only=True) in the worker."""
        self._sio = sio
        self._metrics = metrics
        self._is_server = hasattr(sio, "enter_room") and hasattr(sio, "eio")

    async def to_room(
        self, room_id: str, event: str, data: dict[str, Any], *, skip_sids: Iterable[str] = ()
    ) -> None:
        await self._emit(event, data, room_channel(room_id), list(skip_sids) or None)

    async def to_user(
        self, user_id: str, event: str, data: dict[str, Any], *, skip_sids: Iterable[str] = ()
    ) -> None:
        await self._emit(event, data, user_channel(user_id), list(skip_sids) or None)

    async def to_connection(self, sid: str, event: str, data: dict[str, Any]) -> None:
        await self._emit(event, data, sid)

    async def to_connection_many(
        self, sid: str, events: Sequence[tuple[str, dict[str, Any]]], *, via: str | None = None
    ) -> None:
        # A socket of this web process takes them in one step; the arq worker sends them to
        # the inbox of the process holding the socket, in one message; otherwise (the stock
        # path, a replay queued by a web process older than `via`) emit by emit, in order.
        if self._is_server:
            if seam.write_events(self._sio, sid, events):
                return
            if not seam.is_connected(self._sio, sid):
                # A replay is for a socket of this process (the welcome's, or one taken back
                # from the queue): gone meanwhile, its client recovers by cursor. Emitting
                # would publish it to the other processes for nothing (and, with Redis away,
                # count a failure that is none).
                return
        if via is not None and not self._is_server:
            try:
                await self._sio.send_events(via, sid, events, NAMESPACE)
            except Exception:
                self._metrics.emit_failures.inc()
                log.exception("%d events to %s through %s failed", len(events), sid, via)
            return
        for event, data in events:
            await self._emit(event, data, sid)

    async def subscribe(self, sids: Iterable[str], room_id: str) -> None:
        for sid in sids:
            await self._membership("enter_room", sid, room_channel(room_id))

    async def unsubscribe(self, sids: Iterable[str], room_id: str) -> None:
        for sid in sids:
            await self._membership("leave_room", sid, room_channel(room_id))

    async def disconnect(self, sids: Iterable[str], reason: str) -> None:
        for sid in sids:
            await self._emit("Disconnect", {"reason": reason}, sid)
            try:
                await self._sio.disconnect(sid, namespace=NAMESPACE)
            except Exception:
                self._metrics.emit_failures.inc()
                log.exception("disconnect of %s failed", sid)

    async def _emit(
        self, event: str, data: dict[str, Any], room: str, skip_sid: list[str] | None = None
    ) -> None:
        try:
            await self._sio.emit(event, data, room=room, skip_sid=skip_sid, namespace=NAMESPACE)
        except Exception:
            # A failed emit must not undo a committed action; the client recovers by cursor
            # and seq gaps. Make it visible instead of silent.
            self._metrics.emit_failures.inc()
            log.exception("emit of %s to %s failed", event, room)

    async def _membership(self, method: str, sid: str, room: str) -> None:
        # AsyncServer.enter_room(sid, room) and a manager's enter_room(sid, namespace, room)
        # both reach a socket on any process through the pub/sub manager.
        try:
            if self._is_server:
                await getattr(self._sio, method)(sid, room, namespace=NAMESPACE)
            else:
                await getattr(self._sio, method)(sid, NAMESPACE, room)
        except Exception:
            self._metrics.emit_failures.inc()
            log.exception("%s %s for %s failed", method, room, sid)
