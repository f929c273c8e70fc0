"""A leaner Engine.IO socket for clients that connect straight over a websocket.

python-engineio serves every websocket with a reader loop that creates a task and a
`wait_for` for each incoming packet, a writer task parked on a per-socket queue, and a new
ping task for every ping cycle. For thousands of mostly idle chat clients that is most of
the per-connection memory and much of the per-message CPU. This socket keeps the Engine.IO
protocol as it is and changes only how it is carried:

- outgoing packets are framed and written to the transport at once (no queue, no writer
  task); frames for one socket within one event-loop pass go out in one write;
- the reader awaits aiohttp's `receive()` directly;
- the next ping, and the check that its pong came back in time, are deadlines on the server's
  shared timer wheel (timers.py), not tasks or a loop timer per socket.

Clients that start on long-polling and upgrade later keep python-engineio's own code.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from typing import Any

from aiohttp import WSMsgType
from engineio import exceptions
from engineio import packet as eio_packet

from app.realtime.engineio_seam.front_door import FrontDoorRequest, take_over_door
from app.realtime.engineio_seam.owned import (
    CLOSE_GOING_AWAY,
    CLOSE_OK,
    OwnedWebSocketResponse,
    hang_up,
    take_over,
)
from app.realtime.engineio_seam.polling import BoundedPollSocket
from app.realtime.engineio_seam.timers import wheel_of

log = logging.getLogger(__name__)

_TEXT, _BINARY = 0x81, 0x82  # FIN + opcode (RFC 6455 section 5.2)
_MESSAGE = str(eio_packet.MESSAGE)
# Bytes in a transport's buffer past which a socket's frames wait in its writer's backlog.
TRANSPORT_HIGH_WATER = 64 * 1024
BACKLOG_RETRY_SECONDS = 0.05


def frame(payload: str | bytes) -> bytes:
    """An unmasked, uncompressed websocket frame: what a server sends."""
    if isinstance(payload, str):
        data, first = payload.encode(), _TEXT
    else:
        data, first = payload, _BINARY
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 65536:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + data


def engineio_frame(socketio_packet: str) -> bytes:
    """The websocket frame that carries one encoded Socket.IO packet: an Engine.IO MESSAGE,
    whose text form is its type digit and the payload (Engine.IO protocol 4), written here
    without building python-engineio's Packet (a tenth of a replayed message's CPU)."""
    return frame(_MESSAGE + socketio_packet)


class WriteCoalescer:
    """Collects the frames written to each socket during one event-loop pass and hands each
    transport its frames as one write: a backfill of 20 messages or a burst of broadcasts
    costs one system call per socket, not one per frame. Order per socket is kept."""

    def __init__(self) -> None:
        self._dirty: list[FrameWriter] = []

    def mark(self, writer: FrameWriter) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self.flush)
        self._dirty.append(writer)

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for writer in dirty:
            writer.flush()


class FrameWriter:
    """Writes one websocket's frames to its transport, coalesced per event-loop pass.

    Past `TRANSPORT_HIGH_WATER` bytes in the transport's buffer, frames wait in the writer's
    own backlog and go on as the buffer drains. Only what is in the backlog can be taken
    back: a slow consumer's goodbye then goes out ahead of everything it was not yet sent,
    behind at most the high-water mark (and what the kernel holds)."""

    __slots__ = (
        "_backlog",
        "_backlog_bytes",
        "_coalescer",
        "_drain_timer",
        "_held",
        "_pending",
        "transport",
    )

    def __init__(self, transport: asyncio.Transport, coalescer: WriteCoalescer) -> None:
        self.transport = transport
        self._coalescer = coalescer
        self._pending: list[bytes] | None = None
        # Made when first needed: an empty deque is ~600 bytes, and most sockets never
        # fall behind (memory per idle connection, docs/internals.md).
        self._backlog: deque[bytes] | None = None
        self._backlog_bytes = 0
        self._drain_timer: asyncio.TimerHandle | None = None
        self._held = False

    @property
    def closing(self) -> bool:
        return self.transport.is_closing()

    def buffered_bytes(self) -> int:
        return self.transport.get_write_buffer_size() + self._backlog_bytes

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            if not self._held:
                self._coalescer.mark(self)
        else:
            self._pending.append(data)

    def offer(self, data: bytes, limit: int) -> bool | None:
        """`write` for a room fan-out, with the slow-consumer check in the same step (this
        runs once per recipient of every broadcast): None when over `limit` bytes are
        buffered (a slow consumer; nothing written), False when the transport is closing."""
        transport = self.transport
        if transport.get_write_buffer_size() + self._backlog_bytes > limit:
            return None
        if transport.is_closing():
            return False
        pending = self._pending
        if pending is None:
            self._pending = [data]
            if not self._held:
                self._coalescer.mark(self)
        else:
            pending.append(data)
        return True

    def hold(self) -> None:
        """Keep this socket's frames until `release`, across event-loop passes: the welcome
        (CONNECT, AuthSuccess, presence, replay, SyncComplete) spans several awaits and
        would otherwise cost a system call for each."""
        self._held = True

    def release(self) -> None:
        self._held = False
        if self._pending:
            self._coalescer.mark(self)

    def write_now(self, data: bytes) -> None:
        """Straight to the transport, ahead of the pending frames and the backlog."""
        if not self.transport.is_closing():
            self.transport.write(data)

    def discard(self) -> None:
        """Forget every frame not yet handed to the transport."""
        if self._pending is not None:
            self._pending.clear()
        self._backlog = None
        self._backlog_bytes = 0
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None

    def flush(self) -> None:
        if self._held:
            return  # `release` hands the frames on
        pending, self._pending = self._pending, None
        if not pending or self.transport.is_closing():
            return
        if self._backlog or self.transport.get_write_buffer_size() > TRANSPORT_HIGH_WATER:
            if self._backlog is None:
                self._backlog = deque()
            self._backlog.extend(pending)
            self._backlog_bytes += sum(map(len, pending))
            self._schedule_drain()
            return
        self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _schedule_drain(self) -> None:
        if self._drain_timer is None:
            loop = asyncio.get_running_loop()
            self._drain_timer = loop.call_later(BACKLOG_RETRY_SECONDS, self._drain)

    def _drain(self) -> None:
        # A timer while a backlog exists (only for clients that fall behind): the transport
        # tells only its protocol, aiohttp's, when its buffer drains.
        self._drain_timer = None
        if self.transport.is_closing():
            self.discard()
            return
        backlog = self._backlog
        if backlog is None:
            return
        room = TRANSPORT_HIGH_WATER - self.transport.get_write_buffer_size()
        chunk: list[bytes] = []
        while backlog and room > 0:
            data = backlog.popleft()
            chunk.append(data)
            room -= len(data)
            self._backlog_bytes -= len(data)
        if chunk:
            self.transport.write(b"".join(chunk))
        if backlog:
            self._schedule_drain()
        else:
            self._backlog = None


class _NoQueue:
    """What a direct-writing socket has instead of a packet queue: always empty. Packets that
    still arrive here are for a socket that is already closed, and are dropped."""

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0

    def put_nowait(self, item: Any) -> None:
        pass

    async def put(self, item: Any) -> None:
        pass

    def get_nowait(self) -> Any:
        raise asyncio.QueueEmpty

    def task_done(self) -> None:
        pass

    async def join(self) -> None:
        pass


NO_QUEUE = _NoQueue()


def write_direct(socket: Any, data: bytes, *, urgent: bool = False) -> bool:
    """Write a prebuilt frame to a socket that writes directly (`DirectSocket`); False if it
    does not (long-polling, compression) or is closed, and the packet must take its queue.
    `urgent` frames go to the transport now, ahead of what waits for this loop pass."""
    writer = getattr(socket, "writer", None)
    if writer is None or socket.closed or writer.closing:
        return False
    if urgent:
        writer.write_now(data)
    else:
        writer.write(data)
    return True


class DirectSocket(BoundedPollSocket):
    """python-engineio's AsyncSocket, carried as described in the module docstring (and,
    while it long-polls, answering as polling.py describes).

    The server swaps a new socket's class to this one as soon as python-engineio creates it
    (`CampfireSocketServer._handle_eio_connect`); python-engineio offers no factory for it.
    """

    writer: FrameWriter | None = None
    _finished = False
    # The current deadline on the wheel; bumping it cancels the one before (timers.py).
    _timer_token = 0

    def attach(self, writer: FrameWriter) -> None:
        """Write straight to `writer` from now on; what was queued so far goes first."""
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            if pkt is not None:
                writer.write(frame(pkt.encode()))
        self.queue = NO_QUEUE
        self.writer = writer

    def discard_backlog(self) -> None:
        if self.writer is not None:
            self.writer.discard()

    def write_packet(self, pkt: eio_packet.Packet) -> None:
        assert self.writer is not None
        self.writer.write(frame(pkt.encode()))

    async def send(self, pkt: eio_packet.Packet) -> None:
        if self.writer is None:
            return await super().send(pkt)
        if await self.check_ping_timeout():
            self.write_packet(pkt)
        return None

    def after_close(self) -> None:
        if self.writer is not None:
            going_away = getattr(self.server, "going_away", False)
            hang_up(self.writer, CLOSE_GOING_AWAY if going_away else CLOSE_OK)
        elif not self.upgraded:
            # A long-polling client that says goodbye still has a GET waiting on the queue;
            # answer it now, not at its ping timeout (python-engineio leaves it ~45 s).
            self.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))
        else:
            super().after_close()

    def schedule_ping(self) -> None:
        # Called for every PONG: the next ping follows one interval after the answer, as in
        # python-engineio. One deadline per socket at a time on the server's shared wheel
        # (timers.py), instead of a task per cycle or a loop timer per socket.
        if self.last_ping:
            self.last_ping = None
            self._set_timer(self.server.ping_interval)

    def timer_fired(self, token: int) -> None:
        if token != self._timer_token or self.closing or self.closed:
            return  # superseded by a later deadline, or the socket is gone
        if self.last_ping is None:
            self._ping()
        elif self.writer is not None:
            # No PONG within pingTimeout: the client is gone. Dropping the connection ends
            # the reader loop, which cleans up as for any other disconnect. (This is the
            # liveness check; the reader itself waits without a timeout.)
            log.info("%s: no pong within %ss; dropping", self.sid, self.server.ping_timeout)
            self.writer.transport.abort()

    def _ping(self) -> None:
        self.last_ping = time.time()
        pkt = eio_packet.Packet(eio_packet.PING)
        if self.writer is not None:
            self.write_packet(pkt)
            self._set_timer(self.server.ping_timeout)
        else:
            self.queue.put_nowait(pkt)

    def _set_timer(self, delay: float) -> None:
        self._timer_token += 1
        wheel_of(self.server).call_later(delay, self.sid, self._timer_token)

    async def _websocket_handler(self, ws: Any) -> None:
        transport = getattr(ws, "transport", None)
        if self.connected or transport is None:
            # An upgrade from long-polling, or compression on: python-engineio's own loop.
            return await super()._websocket_handler(ws)
        self.connected = True
        self.upgraded = True
        writer = FrameWriter(transport, self.server.write_coalescer)
        sock = ws._sock
        if type(sock) is FrontDoorRequest:
            sock.accept(writer.write)  # the 101, ahead of the open packet in the same write
            self.attach(writer)
            if take_over_door(sock, self, self.server.owned_connections):
                return None  # upgraded by the front door; input comes to handle_message
            await self.finish()
            return None
        self.attach(writer)
        if isinstance(sock, OwnedWebSocketResponse):
            registry = self.server.owned_connections
            if take_over(sock, ws.environ, self, registry):
                # The connection is a WebSocketConnection's now (owned.py): aiohttp's
                # request ends here, and its input comes to handle_message.
                return None
            log.warning("%s: aiohttp's request could not be taken over", self.sid)
            await self.finish()
            return None
        while not self.closed:
            try:
                message = await sock.receive()
            except Exception:  # the connection broke
                break
            if message.type is not WSMsgType.TEXT and message.type is not WSMsgType.BINARY:
                break  # closed by the client, or a protocol error
            if not await self.handle_message(message.data):
                break
        self._timer_token += 1  # a pending deadline finds nothing to do
        writer.flush()
        await sock.close()
        # When the connection broke (no close frame), aiohttp keeps the error of its failed
        # close on the response, and that error's traceback holds the response's own frames:
        # a reference cycle with the whole connection behind it (transport, request, parser),
        # freed only by a full collection, which app/heap.py makes rare. Nothing reads it now.
        sock._exception = None
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def handle_message(self, data: str | bytes) -> bool:
        """One websocket message from the client; False when the connection must end."""
        if self.closed or len(data) > self.server.max_http_buffer_size:
            return False
        if (
            type(data) is str
            and len(data) > 1
            and data[0] == "4"
            and data[1].isdigit()
            and not self.server.async_handlers
        ):
            # A Socket.IO packet in an Engine.IO MESSAGE: every client event. Straight to
            # python-socketio's handler, which is what python-engineio's receive() and
            # _trigger_event() do with it, minus their per-packet closure, coroutine check
            # and log-argument formatting (~6% of the loop in the writes benchmark). Like
            # python-engineio, a failing handler is logged and the connection goes on.
            try:
                await self.server.handlers["message"](self.sid, data[1:])
            except Exception:
                log.exception("%s: handling a message failed", self.sid)
            return True
        try:
            pkt = eio_packet.Packet(encoded_packet=data)
        except Exception:
            # Not an Engine.IO packet: the session ends at once, as python-engineio's
            # own loop does (its decode error leaves the loop).
            log.info("%s: invalid Engine.IO packet; closing", self.sid)
            return False
        try:
            await self.receive(pkt)
        except exceptions.UnknownPacketError:
            pass
        except exceptions.SocketIsClosedError:
            return False
        except Exception:
            log.exception("%s: handling a packet failed", self.sid)
        return True

    async def finish(self) -> None:
        """A taken-over connection ended (owned.py): the socket ends as the reader loop's
        end does, and leaves the server's table (python-engineio removes a websocket's
        socket when its request returns, which for these was long ago)."""
        if self._finished:
            return
        self._finished = True
        self._timer_token += 1  # a pending deadline finds nothing to do
        if self.writer is not None:
            self.writer.flush()
        try:
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        finally:
            if self.server.sockets.get(self.sid) is self:
                del self.server.sockets[self.sid]
