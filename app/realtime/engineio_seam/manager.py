"""Socket.IO client managers: room emits encoded once, bounded per-socket backlogs, and the
per-connection room cap (see the package docstring; what it relies on is in contract.py)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from app.notifier import ROOM_PREFIX as CHAT_ROOM_PREFIX
from app.realtime.engineio_seam.engine import engineio_frame, write_direct
from app.realtime.engineio_seam.pubsub_recovery import PubSubRecovery
from app.realtime.engineio_seam.sharded_pubsub import ShardedPubSub

log = logging.getLogger(__name__)


def event_args(data: Any) -> list[Any]:
    """An emit's arguments as python-socketio makes them: a tuple is several arguments,
    None is none, anything else is one."""
    if isinstance(data, tuple):
        return list(data)
    return [] if data is None else [data]


def encode_event(event: str, data: Any, namespace: str = "/") -> str | None:
    """A Socket.IO EVENT packet as text, straight through orjson: what python-socketio's
    Packet would produce (`data` as in `emit`), without its recursive scan for binary
    attachments. None when the data holds something orjson cannot encode (bytes)."""
    try:
        body = orjson.dumps([event, *event_args(data)]).decode()
    except TypeError:
        return None
    return f"2{body}" if namespace == "/" else f"2{namespace},{body}"


class CampfireManager(socketio.AsyncManager):
    """python-socketio's manager plus what Campfire needs on both paths: the per-connection
    cap on chat-room subscriptions, an index of each sid's rooms, and bounded backlogs (a
    client that stops reading is reported to `on_slow_consumer` and skipped, rather than
    growing server memory). Room emits go out as python-socketio sends them."""

    max_queued_packets: int = 2_000
    # Bytes written but not yet taken by the kernel, per socket, before it is a slow consumer.
    max_buffered_bytes: int = 4 * 1024 * 1024
    max_rooms_per_connection: int = 100
    on_slow_consumer: Callable[[str], None] | None = None
    on_delivered: Callable[[str, int], None] | None = None

    def initialize(self) -> None:
        super().initialize()
        # (namespace, sid) -> every room it is in, in the order it entered them. python-socketio
        # finds a leaving client's rooms by scanning all rooms of the server (one per client
        # at least), which makes a mass disconnect quadratic; this index makes it linear.
        self.rooms_of_sid: dict[tuple[str, str], dict[Any, None]] = {}

    def chat_rooms(self, sid: str, namespace: str = "/") -> list[str]:
        rooms = self.rooms_of_sid.get((namespace, sid), {})
        return [r for r in rooms if isinstance(r, str) and r.startswith(CHAT_ROOM_PREFIX)]

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        if isinstance(room, str):
            # Every socket of a room keeps the room's name in its own index: one shared
            # string instead of a copy per socket (memory per idle connection).
            room = sys.intern(room)
        if isinstance(room, str) and room.startswith(CHAT_ROOM_PREFIX):
            chat_rooms = self.chat_rooms(sid, namespace)
            cap = self.max_rooms_per_connection
            if room not in chat_rooms and cap and len(chat_rooms) >= cap:
                log.info("%s is at its %d-room limit; not subscribed to %s", sid, cap, room)
                return
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self.rooms_of_sid.setdefault((namespace, sid), {})[room] = None
        if len(self.rooms[namespace][room]) == 1:
            self.room_occupied(namespace, room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        rooms = self.rooms_of_sid.get((namespace, sid))
        if rooms is not None:
            rooms.pop(room, None)
        super().basic_leave_room(sid, namespace, room)
        if room not in self.rooms.get(namespace, {}):
            self.room_vacated(namespace, room)

    def room_occupied(self, namespace: str, room: Any) -> None:
        """A room got its first socket of this process (the sharded fan-out subscribes)."""

    def room_vacated(self, namespace: str, room: Any) -> None:
        """A room lost its last socket of this process (the sharded fan-out unsubscribes)."""

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        rooms = self.rooms_of_sid.pop((namespace, sid), None)
        if rooms is None:
            return super().basic_disconnect(sid, namespace, **kwargs)
        for room in rooms:
            super().basic_leave_room(sid, namespace, room)
            if room not in self.rooms.get(namespace, {}):
                self.room_vacated(namespace, room)
        # The rest of python-socketio's basic_disconnect: pending acks and connect states.
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if sid in pending.get(namespace, ()):
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]
        return None

    def is_slow(self, socket: Any) -> bool:
        queue = getattr(socket, "queue", None)  # python-engineio's; see contract.py
        if queue is not None and queue.qsize() >= self.max_queued_packets:
            return True
        writer = getattr(socket, "writer", None)
        return writer is not None and writer.buffered_bytes() > self.max_buffered_bytes

    def _skip(self, skip_sid: Any) -> set[Any]:
        return set(skip_sid) if isinstance(skip_sid, list | tuple | set) else {skip_sid}

    def _recipients(self, namespace: str, room: Any, skip: set[Any]) -> list[tuple[str, Any]]:
        """(sid, engine socket) of every recipient that keeps up; slow ones are reported."""
        sockets = self.server.eio.sockets
        found = []
        for sid, eio_sid in list(self.get_participants(namespace, room)):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            if self.is_slow(socket):
                if self.on_slow_consumer is not None:
                    self.on_slow_consumer(sid)
                continue
            found.append((sid, socket))
        return found

    def oldest_chat_room(self, sid: str) -> str | None:
        """The subscription to give up when a client explicitly asks for one more room."""
        rooms = self.chat_rooms(sid)
        if not rooms or len(rooms) < self.max_rooms_per_connection:
            return None
        return rooms[0]

    async def emit(  # type: ignore[override]
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None or namespace not in self.rooms:
            return await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback
            )
        skip = self._skip(skip_sid)
        recipients = {sid for sid, _ in self._recipients(namespace, room, skip)}
        everyone = {sid for sid, _ in self.get_participants(namespace, room)}
        await super().emit(event, data, namespace, room=room, skip_sid=list(everyone - recipients))
        if self.on_delivered is not None:
            self.on_delivered(event, len(recipients))
        return None


class FanoutManager(CampfireManager):
    """The fast path's: a room emit is encoded once and written to every recipient's socket
    directly (one websocket frame for all), instead of python-socketio's one asyncio task and
    one encode per recipient."""

    async def emit(  # type: ignore[override]
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None:
            return await socketio.AsyncManager.emit(
                self, event, data, namespace, room=room, skip_sid=skip_sid, callback=callback
            )
        if namespace not in self.rooms:
            return None
        encoded = (
            encode_event(event, data, namespace)
            or self.server.packet_class(
                sio_packet.EVENT, namespace=namespace, data=[event, *event_args(data)]
            ).encode()
        )
        # Text packets (all of Campfire's) can be framed once for every recipient.
        ws_frame = engineio_frame(encoded) if isinstance(encoded, str) else None
        # One pass over the room, no intermediate list: this loop runs once per recipient of
        # every broadcast. A direct-writing socket (the websocket fast path, whose queue is
        # NO_QUEUE and never full) is checked for slowness and written to by its writer in
        # one call; any other socket takes the general path (`is_slow`, `write_direct`, queue).
        sockets = self.server.eio.sockets
        skip = self._skip(skip_sid)
        limit = self.max_buffered_bytes
        delivered = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            writer = getattr(socket, "writer", None)
            if writer is not None and ws_frame is not None:
                written = writer.offer(ws_frame, limit)
                if written:
                    delivered += 1
                    continue
                if written is None:
                    if self.on_slow_consumer is not None:
                        self.on_slow_consumer(sid)
                    continue
            if self.is_slow(socket):
                if self.on_slow_consumer is not None:
                    self.on_slow_consumer(sid)
                continue
            if ws_frame is None or not write_direct(socket, ws_frame):
                for pkt in _engineio_packets(encoded):
                    socket.queue.put_nowait(pkt)
            delivered += 1
        if self.on_delivered is not None:
            self.on_delivered(event, delivered)
        return None

    def write_events(
        self, sid: str, events: Sequence[tuple[str, Any]], namespace: str = "/"
    ) -> bool:
        """`events` ((event, data) pairs) to one socket of this process, in order, each
        encoded and framed once and handed to its writer: a (re)connecting socket's replay,
        hundreds of events, without an emit's layers for each (python-socketio's emit, the
        room lookup, the recipient loop). False, with nothing written, when `sid` is not a
        direct-writing socket of this process or an event is not plain JSON: then the caller
        emits them the general way."""
        eio_sid = self.eio_sid_from_sid(sid, namespace)
        socket = self.server.eio.sockets.get(eio_sid) if eio_sid is not None else None
        writer = getattr(socket, "writer", None)
        if writer is None or socket.closed:
            return False
        frames = []
        for event, data in events:
            encoded = encode_event(event, data, namespace)
            if encoded is None:
                return False
            frames.append(engineio_frame(encoded))
        limit = self.max_buffered_bytes
        sent: dict[str, int] = {}
        for (event, _), ws_frame in zip(events, frames, strict=True):
            written = writer.offer(ws_frame, limit)
            if not written:
                if written is None and self.on_slow_consumer is not None:
                    self.on_slow_consumer(sid)
                break
            sent[event] = sent.get(event, 0) + 1
        if self.on_delivered is not None:
            for event, count in sent.items():
                self.on_delivered(event, count)
        handled = getattr(self, "on_emit_handled", None)  # PubSubRecovery's (with Redis)
        if handled is not None:
            # As an emit would have been: the fan-out audit takes a room's baseline from a
            # replay's SyncComplete (app/realtime/recovery.py).
            for event, data in events:
                handled({"event": event, "data": [data], "namespace": namespace, "room": sid})
        return True


def _engineio_packets(encoded: str | list[Any]) -> list[eio_packet.Packet]:
    """python-socketio's encoded packet (a list when it has binary attachments) as the
    Engine.IO packets a queued socket takes."""
    frames = encoded if isinstance(encoded, list) else [encoded]
    return [eio_packet.Packet(eio_packet.MESSAGE, frame) for frame in frames]


class FanoutRedisManager(PubSubRecovery, ShardedPubSub, socketio.AsyncRedisManager, FanoutManager):
    """Redis pub/sub between processes; each process delivers locally like FanoutManager.
    PubSubRecovery: failed publishes reported, deliveries seen, short resubscribes.
    ShardedPubSub: a process receives only the rooms it has sockets in."""


class CampfireRedisManager(
    PubSubRecovery, ShardedPubSub, socketio.AsyncRedisManager, CampfireManager
):
    """The stock path's with Redis: each process delivers locally like CampfireManager."""
