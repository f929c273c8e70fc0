"""Transport duties of the real-time layer, apart from the protocol's events (gateway.py):
dropping slow consumers, the shutdown flush, and the per-connection subscription cap.

Everything here reaches the sockets through `app.realtime.engineio_seam`'s named functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from app.metrics import Metrics
from app.realtime import engineio_seam as seam

log = logging.getLogger(__name__)

# SIGTERM must end the process within 10 s (PROTOCOL.md section 8): 3 s to flush goodbyes,
# after the gateway's grace for in-flight events, and aiohttp's shutdown timeout after that.
SHUTDOWN_FLUSH_SECONDS = 3.0
# How long a dropped slow consumer gets to read its goodbye before its TCP connection is cut
# (its unsent backlog is gone by then: what is held is the goodbye and under ~64 KB before it).
SLOW_CONSUMER_GRACE_SECONDS = 10.0


class TransportDuties:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        metrics: Metrics,
        spawn: Callable[[Awaitable[Any]], None],
        send_buffer: int = 0,
    ) -> None:
        self.sio = sio
        self.send_buffer = send_buffer
        self.metrics = metrics
        self._spawn = spawn
        # Sids being dropped as slow consumers: emits go on reaching them until the drop's
        # disconnect has run, and each must not start another drop.
        self._dropping: set[str] = set()

    def install(self) -> None:
        seam.install_delivery_hooks(
            self.sio,
            on_slow_consumer=self.slow_consumer,
            on_delivered=self._count_sent,
            on_pubsub_received=self._count_received,
        )

    def accepted(self, environ: dict[str, Any]) -> None:
        """A new socket: cap what its kernel send buffer holds (CAMPFIRE_SOCKET_SEND_BUFFER),
        so that a slow consumer's goodbye is at most that far behind (Linux otherwise grows
        it to 4 MB, all of it ahead of the goodbye)."""
        request = environ.get("aiohttp.request")
        if self.send_buffer and request is not None and request.transport is not None:
            sock = request.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)

    def disconnected(self, sid: str) -> None:
        seam.end_pending_poll(self.sio, sid)

    # ---- subscriptions ----------------------------------------------------------------

    async def subscribe(self, sid: str, channel: str) -> None:
        """Subscribe; a chat room past the per-connection cap is left out (the manager keeps
        the cap, most recently active rooms first)."""
        await self.sio.enter_room(sid, channel)

    async def subscribe_explicitly(self, sid: str, channel: str) -> None:
        """A room the client asked for (JoinRoom): at the cap, give up this connection's least
        recently subscribed room to make room for it."""
        if channel in seam.chat_rooms(self.sio, sid):
            return
        oldest = seam.oldest_chat_room(self.sio, sid)
        if oldest is not None:
            await self.sio.leave_room(sid, oldest)
        await self.sio.enter_room(sid, channel)

    async def emit(self, sid: str, event: str, data: dict[str, Any]) -> None:
        """One event to one socket: written straight to it when it is a direct socket of
        this process (each connection's welcome emits a few), else python-socketio's emit."""
        if not seam.write_events(self.sio, sid, ((event, data),)):
            await self.sio.emit(event, data, to=sid)

    def writes_held(self, sid: str) -> contextlib.AbstractContextManager[None]:
        """What is emitted to `sid` in the block reaches its connection in one write."""
        return seam.writes_held(self.sio, sid)

    async def until_connected(self, sid: str) -> None:
        """Socket.IO's CONNECT packet goes out right after the connect handler returns; a few
        loop passes at most, so that nothing is emitted ahead of it."""
        for _ in range(10):
            if seam.is_connected(self.sio, sid):
                return
            await asyncio.sleep(0)

    # ---- slow consumers ---------------------------------------------------------------

    def slow_consumer(self, sid: str) -> None:
        if sid not in self._dropping:
            self._dropping.add(sid)
            log.warning("socket %s is not reading; disconnecting it", sid)
            self.metrics.slow_consumers.inc()
            self._spawn(self._drop_slow(sid))

    async def _drop_slow(self, sid: str) -> None:
        connection = seam.connection(self.sio, sid)
        # The goodbye goes ahead of the backlog the client never read, which is discarded.
        connection.goodbye_first("Disconnect", {"reason": "slow_consumer"})
        try:
            await self.sio.disconnect(sid)
        except Exception:
            log.debug("disconnecting slow consumer %s failed", sid, exc_info=True)
        # A client that reads nothing will not read the goodbye either: after a grace
        # period, cut the TCP connection so its buffers are freed.
        await asyncio.sleep(SLOW_CONSUMER_GRACE_SECONDS)
        await connection.abort()
        self._dropping.discard(sid)

    # ---- shutdown ---------------------------------------------------------------------

    async def shutdown(self, sids: list[str]) -> None:
        """Say goodbye to every socket, flush, and close the transports."""
        log.info("shutting down: closing %d sockets", len(sids))
        for sid in sids:
            try:
                await self.sio.emit("Disconnect", {"reason": "server_shutdown"}, to=sid)
            except Exception:
                log.debug("goodbye to %s failed", sid, exc_info=True)
        await seam.close_all(self.sio, sids, SHUTDOWN_FLUSH_SECONDS)

    def _count_sent(self, event: str, recipients: int) -> None:
        self.metrics.events_sent.inc(event, recipients)

    def _count_received(self, channel: str) -> None:
        self.metrics.pubsub_received.inc(channel)
