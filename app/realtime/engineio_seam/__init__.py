"""The one place that touches python-engineio's and python-socketio's internals.

Campfire's fan-out is fast because it writes Engine.IO frames past both libraries (see
`engine.py` and `manager.py`). Everything that relies on something those libraries do not
document lives in this package; the rest of the application (`app/realtime/`, `jobs/`)
calls only the named functions below. What exactly is relied on, for which library versions
and why, is the list in `contract.py`: `tests/test_internals_contract.py` checks every entry
against the installed libraries, and `create_server` checks them again at start-up and
falls back to the stock path (python-socketio as shipped) if the fast path's are broken.
`docs/internals.md` explains the two paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import socketio
from engineio import packet as eio_packet

from app.realtime.engineio_seam.engine import write_direct
from app.realtime.engineio_seam.front_door import FrontDoorFactory, ProtocolFactory
from app.realtime.engineio_seam.server import ack_requested as _ack_requested
from app.realtime.engineio_seam.server import create_socket_server, event_frame, is_fast_path
from app.realtime.engineio_seam.worker import WorkerEmitError, WorkerRedisManager

log = logging.getLogger(__name__)
NAMESPACE = "/"

__all__ = [
    "ConnectionHandle",
    "WorkerEmitError",
    "WorkerRedisManager",
    "ack_requested",
    "chat_rooms",
    "close_all",
    "connection",
    "create_server",
    "create_worker_emitter",
    "end_pending_poll",
    "front_door",
    "inbox_channel",
    "install_delivery_hooks",
    "is_connected",
    "is_fast_path",
    "oldest_chat_room",
]


def create_server(settings: Any) -> socketio.AsyncServer:
    """The Socket.IO server for `settings` (fast path or stock, `engine_fast_path`)."""
    return create_socket_server(settings)


def front_door(sio: socketio.AsyncServer) -> Callable[[ProtocolFactory], ProtocolFactory] | None:
    """What puts front_door.py in front of aiohttp's protocol factory, or None when `sio`
    does not use it (stock path, compression, access log, CAMPFIRE_FRONT_DOOR=0)."""
    eio = sio.eio
    if not getattr(eio, "front_door", False):
        return None
    return lambda http: FrontDoorFactory(http, eio)


def create_worker_emitter(
    url: str, *, channel: str, metrics: Any, shards: int = 0
) -> WorkerRedisManager:
    """A write-only emitter onto the web processes' Redis channels (the arq worker's);
    `shards` as the web processes' CAMPFIRE_PUBSUB_SHARDS."""
    return WorkerRedisManager(url, channel=channel, metrics=metrics, shards=shards)


def inbox_channel(sio: socketio.AsyncServer) -> str | None:
    """The Redis channel only this process reads (None without Redis): the arq worker sends
    a replay for one of this process's sockets there, in one message."""
    return getattr(sio.manager, "inbox_channel", None)


def ack_requested() -> bool:
    """Whether the client event being handled asked for an ack (PROTOCOL.md section 4)."""
    return _ack_requested.get()


def install_delivery_hooks(
    sio: socketio.AsyncServer,
    *,
    on_slow_consumer: Callable[[str], None],
    on_delivered: Callable[[str, int], None],
    on_pubsub_received: Callable[[str], None] | None = None,
) -> None:
    """Called with a sid whose socket stopped reading, with (event, recipients) per emit, and
    (with Redis) with "shared" or "shard" per message decoded from another process."""
    sio.manager.on_slow_consumer = on_slow_consumer
    sio.manager.on_delivered = on_delivered
    if hasattr(sio.manager, "on_pubsub_received"):
        sio.manager.on_pubsub_received = on_pubsub_received


def write_events(sio: socketio.AsyncServer, sid: str, events: Sequence[tuple[str, Any]]) -> bool:
    """`events` ((event, data) pairs) straight to `sid`'s socket on this process, in order
    (FanoutManager.write_events); False when the caller must emit them the general way (the
    stock path, a socket of another process, a polling socket)."""
    write = getattr(sio.manager, "write_events", None)
    return bool(write is not None and write(sid, events, NAMESPACE))


def is_connected(sio: socketio.AsyncServer, sid: str) -> bool:
    return bool(sio.manager.is_connected(sid, NAMESPACE))


def chat_rooms(sio: socketio.AsyncServer, sid: str) -> list[str]:
    """The chat-room channels `sid` is subscribed to, oldest subscription first."""
    return list(sio.manager.chat_rooms(sid, NAMESPACE))


def oldest_chat_room(sio: socketio.AsyncServer, sid: str) -> str | None:
    """The subscription to give up when `sid` is at its room cap and asks for one more."""
    return sio.manager.oldest_chat_room(sid)


def end_pending_poll(sio: socketio.AsyncServer, sid: str) -> None:
    """A long-polling client that says goodbye still has a GET waiting; python-engineio
    answers it only at the ping timeout (~45 s). Answer it now with a noop. (The fast path's
    DirectSocket does this in its own close.)"""
    if is_fast_path(sio):
        return
    socket = _engine_socket(sio, sid)
    if socket is None or getattr(socket, "upgraded", True):
        return
    queue = getattr(socket, "queue", None)  # see contract.py
    if queue is not None:
        queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))


@contextlib.contextmanager
def writes_held(sio: socketio.AsyncServer, sid: str) -> Iterator[None]:
    """Everything written to `sid` inside the block goes out in one write at its end (a
    direct socket's FrameWriter.hold); other sockets write as usual."""
    writer = getattr(_engine_socket(sio, sid), "writer", None)
    if writer is None:
        yield
        return
    writer.hold()
    try:
        yield
    finally:
        writer.release()


def _engine_socket(sio: socketio.AsyncServer, sid: str) -> Any:
    eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
    return sio.eio.sockets.get(eio_sid) if eio_sid else None


def _transport(sio: socketio.AsyncServer, sid: str) -> asyncio.BaseTransport | None:
    eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
    request = sio.environ.get(eio_sid, {}).get("aiohttp.request") if eio_sid else None
    return request.transport if request is not None else None


class ConnectionHandle:
    """One socket's connection, held across its Socket.IO disconnect (after which its sid no
    longer leads to it)."""

    def __init__(self, sio: socketio.AsyncServer, sid: str) -> None:
        self._socket = _engine_socket(sio, sid)
        self._transport = _transport(sio, sid)

    def goodbye_first(self, event: str, data: Any) -> bool:
        """Throw away what has not been sent yet and write `event` in its place, ahead of
        that backlog; True if the goodbye was handed to the connection."""
        socket = self._socket
        if socket is not None:
            discard = getattr(socket, "discard_backlog", None)
            if discard is not None:
                discard()
            else:  # python-engineio's own socket: empty its packet queue
                while not socket.queue.empty():
                    socket.queue.get_nowait()
                    socket.queue.task_done()
        goodbye = event_frame(event, data)
        if socket is not None and write_direct(socket, goodbye, urgent=True):
            return True
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(goodbye)  # type: ignore[attr-defined]
            return True
        return False

    async def abort(self) -> None:
        """Cut the TCP connection now (a client that reads nothing holds buffers)."""
        if self._socket is not None and not self._socket.closed:
            await self._socket.close(wait=False, abort=True)
        if self._transport is not None:
            self._transport.abort()


def connection(sio: socketio.AsyncServer, sid: str) -> ConnectionHandle:
    return ConnectionHandle(sio, sid)


async def close_all(sio: socketio.AsyncServer, sids: list[str], flush_seconds: float) -> None:
    """Shutdown: disconnect every socket, flush what is queued into the transports, then
    close the transports rather than wait for each client to hang up."""
    transports = [t for t in (_transport(sio, sid) for sid in sids) if t is not None]
    # A disconnect closes the connection too (server.HangUpOnDisconnect): with 1001, going
    # away, as the shutdown's own close frames below.
    sio.eio.going_away = True
    for sid in sids:
        with contextlib.suppress(Exception):
            await sio.disconnect(sid)
    with contextlib.suppress(Exception, TimeoutError):
        await asyncio.wait_for(sio.eio.disconnect(), flush_seconds)
    coalescer = getattr(sio.eio, "write_coalescer", None)
    if coalescer is not None:
        coalescer.flush()
    owned = getattr(sio.eio, "owned_connections", None)
    if owned is not None:
        # Connections taken over from aiohttp (owned.py): aiohttp's own shutdown no longer
        # knows them. Each gets a close frame (1001, going away), then its transport closes,
        # and the shutdown waits for their ends (as aiohttp waited for its handlers).
        await owned.close(wait_seconds=flush_seconds)
    for transport in transports:
        transport.close()
