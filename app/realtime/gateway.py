"""Socket.IO event handlers: a thin adapter from PROTOCOL.md events onto the domain layer.

Only the protocol's events live here: the connection's life (handshake, Auth, the welcome,
disconnect) and the dispatch of client events to one handler table, whose handlers are in
`room_events.py`, `lifecycle_events.py` and `connection_events.py`. Transport duties (slow
consumers, the shutdown flush, the subscription cap) are in `transport.py`; python-socketio's
internals in `engineio_seam`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import socketio

from app.aio import KeptLoop
from app.errors import CampfireError, ErrorCode, invalid
from app.net import client_ip
from app.notifier import room_channel, user_channel
from app.outage import (
    best_effort,
    dependency_bound,
    is_outage,
    log_limited,
    log_limiter,
    unavailable,
)
from app.realtime.connection_events import (
    ConnectionHandler,
    LiveConnection,
    as_connection_handler,
    connection_handlers,
)
from app.realtime.engineio_seam import ack_requested
from app.realtime.handshake import Cursors, _cursors, _handshake_token
from app.realtime.lifecycle_events import lifecycle_handlers
from app.realtime.room_events import room_handlers
from app.realtime.transport import TransportDuties
from app.schemas import AuthIn, parse, wire
from app.schemas_readstate import MemberRoomOut
from app.services import Principal, Services

log = logging.getLogger(__name__)

Envelope = dict[str, Any]
# Refreshing the shared heartbeat on every event would cost a state write per event.
ACTIVITY_REFRESH_SECONDS = 15.0
# SIGTERM must end the process within 10 s (PROTOCOL.md section 8): up to 3 s for in-flight
# events, then the transport's flush (transport.py), then aiohttp's shutdown timeout (app.cli).
SHUTDOWN_GRACE_SECONDS = 3.0
BackfillFn = Callable[[str, list[str], Cursors], Awaitable[None]]


def _client_gone(environ: dict[str, Any]) -> bool:
    """Whether a WebSocket handshake's TCP connection has already closed. (A long-polling
    client's first request may rightly be over: its connection says nothing.)"""
    if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        return False
    request = environ.get("aiohttp.request")
    transport = request.transport if request is not None else None
    return transport is None or transport.is_closing()


class RealtimeGateway:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        services: Services,
        process_id: str,
        backfill: BackfillFn,
    ) -> None:
        self.sio = sio
        self.services = services
        self.settings = services.settings
        self.metrics = services.metrics
        self.process_id = process_id
        self.backfill = backfill
        self.live: dict[str, LiveConnection] = {}
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop = KeptLoop()
        self.transport = TransportDuties(
            sio, self.metrics, self._spawn, send_buffer=self.settings.socket_send_buffer
        )
        # One table, event -> handler(conn, payload), built once: dispatch is one dict lookup.
        self._handlers: dict[str, ConnectionHandler] = connection_handlers(
            services, self.transport, self._emit, self._refresh
        )
        for event, handler in (room_handlers(services) | lifecycle_handlers(services)).items():
            self._handlers[event] = as_connection_handler(handler)

    def register(self) -> None:
        self.sio.on("connect", self._bounded_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("*", self.on_event)
        self.transport.install()

    # ---- connection lifecycle -----------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        self.transport.accepted(environ)
        request = environ["aiohttp.request"]
        ip = client_ip(request, self.settings.trusted_proxy_networks)
        try:
            if self._closing:
                raise CampfireError(
                    ErrorCode.server_overloaded, "the server is shutting down", retry_after=5.0
                )
            await self.services.admission.admit_handshake(ip)
            token = _handshake_token(environ, auth)
            cursors = _cursors(auth)
            conn = LiveConnection(sid=sid, ip=ip)
            if token is None:
                # Mode 4: the client will authenticate with an `Auth` event.
                self.live[sid] = conn
                conn.auth_timer = asyncio.get_running_loop().call_later(
                    self.settings.auth_timeout_seconds, self._spawn, self._auth_timeout(sid)
                )
                log.info("socket %s from %s connected, awaiting Auth", sid, ip)
                return True
            principal, rooms = await self._authenticate(token)
            await self._register(conn, principal)
        except CampfireError as exc:
            log.info("socket %s from %s refused: %s", sid, ip, exc.code)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.payload()) from None
        # The welcome must follow Socket.IO's CONNECT packet, which is queued right after
        # this handler returns and before this task gets to run.
        self._spawn(self._welcome_or_drop(conn, cursors, rooms))
        return True

    async def _bounded_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        """on_connect, refused with `server_overloaded` and `retry_after` when Redis or the
        database is down or does not answer in time, instead of hanging or failing bare.

        It first waits for a handshake slot (AdmissionService.handshake_slot): the dependency
        bound then measures the dependencies, not the line in front of the CPU in a storm."""
        try:
            async with self.services.admission.handshake_slot():
                if _client_gone(environ):
                    # Gave up while waiting (its connect timeout): do not spend the slot.
                    return False
                async with dependency_bound("the server's storage"):
                    return await self.on_connect(sid, environ, auth)
        except CampfireError as exc:
            self.live.pop(sid, None)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.payload()) from None

    async def _welcome_or_drop(
        self, conn: LiveConnection, cursors: Cursors, rooms: list[MemberRoomOut]
    ) -> None:
        """A welcome cut short by an outage would leave the client without SyncComplete,
        waiting forever: close the socket instead, so that it reconnects and resumes."""
        try:
            await self._welcome(conn, cursors, rooms)
        except Exception as exc:
            if not is_outage(exc):
                raise
            log_limited(
                log, logging.WARNING, "welcome-outage", "welcome of %s failed: %r", conn.sid, exc
            )
            await self.services.notifier.disconnect([conn.sid], "server_overloaded")

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.transport.disconnected(sid)
        conn = self.live.pop(sid, None)
        if conn is None:
            return
        if conn.auth_timer is not None:
            conn.auth_timer.cancel()
        if conn.info is not None:
            self.metrics.active_connections.dec()
            await self.services.presence.disconnect(conn.info.connection_id)
            log.info("socket %s of user %s disconnected (%s)", sid, conn.info.user_id, reason)
        else:
            log.info("unauthenticated socket %s disconnected (%s)", sid, reason)

    async def _authenticate(self, token: str) -> tuple[Principal, list[MemberRoomOut]]:
        """The token's principal and its rooms as the welcome describes them, read with the
        session in one hand-off."""
        reader = self.services.rooms.overview_reader()
        try:
            principal, rooms = await self.services.auth.authenticate_and_read(token, reader)
        except CampfireError as exc:
            self.metrics.auth_failures.labels(exc.code.value).inc()
            raise
        assert rooms is not None  # a good token always runs the reader
        return principal, rooms

    async def _register(self, conn: LiveConnection, principal: Principal) -> None:
        try:
            info = await self.services.presence.connect(principal, conn.sid, self.process_id)
        except CampfireError as exc:
            self.metrics.rate_limit_hits.labels(exc.code.value).inc()
            raise
        conn.principal = principal
        conn.info = info
        self.live[conn.sid] = conn
        self.metrics.active_connections.inc()
        log.info(
            "socket %s of user %s authenticated from %s as connection %s",
            conn.sid,
            principal.user_id,
            conn.ip,
            info.connection_id,
        )

    async def _welcome(
        self, conn: LiveConnection, cursors: Cursors, rooms: list[MemberRoomOut]
    ) -> None:
        """PROTOCOL.md section 3: AuthSuccess, PresenceUpdate per room, replay, SyncComplete.
        `rooms`: the user's rooms, read with the session."""
        # The whole welcome in one write (a system call per part otherwise; the order and
        # what the client sees are the same).
        with self.transport.writes_held(conn.sid):
            await self._welcome_held(conn, cursors, rooms)

    async def _welcome_held(
        self, conn: LiveConnection, cursors: Cursors, rooms: list[MemberRoomOut]
    ) -> None:
        await self.transport.until_connected(conn.sid)  # see on_connect
        assert conn.principal is not None and conn.info is not None
        user_id = conn.principal.user_id
        services = self.services
        await self._emit(
            conn.sid,
            "AuthSuccess",
            {
                "user": wire(conn.principal.user),
                "rooms": [wire(room) for room in rooms],
                "connection_id": conn.info.connection_id,
            },
        )
        # Subscribe before reading presence and missed messages, so that anything newer
        # arrives live and nothing falls between the replay and the subscription.
        await self.transport.subscribe(conn.sid, user_channel(user_id))
        subscribed = [room.id for room in rooms[: self.settings.max_rooms_per_connection or None]]
        for room_id in subscribed:
            await self.transport.subscribe(conn.sid, room_channel(room_id))
        for update in await services.presence.welcome_updates(user_id, rooms):
            await self._emit(conn.sid, "PresenceUpdate", update)
        if cursors.present:
            self.metrics.reconnections.inc()
        await self.backfill(conn.sid, subscribed, cursors)

    async def _auth_timeout(self, sid: str) -> None:
        conn = self.live.get(sid)
        if conn is not None and conn.principal is None:
            log.info("socket %s sent no Auth in time", sid)
            self.metrics.auth_failures.labels("auth_timeout").inc()
            await self.services.notifier.disconnect([sid], "auth_timeout")

    # ---- client events ------------------------------------------------------------

    async def on_event(self, event: Any, sid: str, *args: Any) -> Envelope | None:
        conn = self.live.get(sid)
        if conn is None:
            return None
        if not isinstance(event, str):
            # `42[null]`, `42[7,{}]`: Socket.IO would dispatch these; the protocol has no
            # such event. (The name is unusable below, so the error names no event.)
            event, args = "", ()
        known = event in self._handlers or event == "Auth"
        self.metrics.events_received.inc(event if known else "unknown")
        self._in_flight += 1
        self._idle.clear()
        try:
            if len(args) > 1:
                raise invalid("send one JSON object as the event's payload")
            payload = args[0] if args else None
            if event == "Auth":
                return await self._auth_event(conn, payload)
            if conn.principal is None:
                raise CampfireError(ErrorCode.auth_required, "authenticate first")
            handler = self._handlers.get(event)
            if handler is None:
                raise invalid(f"unknown event {event[:50]!r}" if event else "name the event")
            await self._refresh(conn)
            return await handler(conn, payload)
        except CampfireError as exc:
            self.metrics.errors.labels(exc.code.value).inc()
            return await self._fail(conn, event, args, exc)
        except Exception as exc:
            if is_outage(exc):
                log_limited(log, logging.WARNING, "event-outage", "%s failed: %r", event, exc)
                error = unavailable()
                self.metrics.errors.labels(error.code.value).inc()
                return await self._fail(conn, event, args, error)
            # Rate-limited: a client repeating a bad frame must not fill the disk with tracebacks.
            if log_limiter.allow(f"event-error:{type(exc).__name__}")[0]:
                log.exception("handling %s from %s failed", str(event)[:50], sid)
            error = CampfireError(ErrorCode.internal_error, "internal error; retry later")
            self.metrics.errors.labels(error.code.value).inc()
            return await self._fail(conn, event, args, error)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _fail(
        self, conn: LiveConnection, event: str, args: tuple[Any, ...], exc: CampfireError
    ) -> Envelope | None:
        if event == "NewMessage":
            payload = args[0] if args and isinstance(args[0], dict) else {}
            cmid = payload.get("client_message_id")
            data: dict[str, Any] = {
                "client_message_id": cmid if isinstance(cmid, str) else None,
                "error": exc.message,
                "code": exc.code.value,
            }
            if exc.retry_after is not None:
                data["retry_after"] = exc.retry_after
            envelope = {"type": "MessageError", "data": data}
        else:
            envelope = {"type": "Error", "data": exc.payload()}
        if ack_requested():
            return envelope
        await self._emit(conn.sid, "Error", exc.payload())
        return None

    async def _auth_event(self, conn: LiveConnection, payload: Any) -> Envelope:
        if conn.principal is not None:
            raise invalid("this connection is already authenticated")
        if conn.auth_timer is not None:
            conn.auth_timer.cancel()
        try:
            data = parse(AuthIn, payload)
            principal, rooms = await self._authenticate(data.session_token or "")
            await self._register(conn, principal)
        except CampfireError as exc:
            code = exc.code if exc.code == ErrorCode.too_many_connections else ErrorCode.auth_failed
            error = {"error": exc.message, "code": code.value}
            await self._emit(conn.sid, "AuthError", error)
            self._spawn(self.sio.disconnect(conn.sid))
            return {"type": "AuthError", "data": error}
        cursors = Cursors(data.last_seen, data.last_seen_message_id, data.last_rev)
        await self._welcome(conn, cursors, rooms)
        return {"type": "AuthSuccess", "data": {"connection_id": conn.info.connection_id}}  # type: ignore[union-attr]

    async def _refresh(self, conn: LiveConnection, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - conn.last_refresh >= ACTIVITY_REFRESH_SECONDS:
            conn.last_refresh = now
            assert conn.info is not None
            presence, state = self.services.presence, self.services.state
            await best_effort(presence.heartbeat([conn.info.connection_id]), "heartbeat", None)
            await best_effort(state.touch_activity(conn.info.user_id), "activity stamp", None)

    # ---- background duties --------------------------------------------------------

    async def heartbeat_loop(self) -> None:
        """Keep every live connection's shared heartbeat fresh, idle ones included, and put
        back any the shared state lost; after a failure (Redis away) retry within a second,
        so that presence is whole again soon after Redis returns."""
        delay = self.settings.heartbeat_seconds
        while True:
            await asyncio.sleep(delay)
            live = [c for c in self.live.values() if c.info is not None]
            infos = [c.info for c in live if c.info is not None]
            hidden = {c.info.connection_id for c in live if c.info is not None and not c.visible}
            try:
                restored = await self.services.presence.refresh(infos, hidden) if infos else []
            except Exception as exc:
                log_limited(log, logging.WARNING, "heartbeat", "heartbeat refresh failed: %r", exc)
                delay = min(1.0, self.settings.heartbeat_seconds)
                continue
            delay = self.settings.heartbeat_seconds
            if restored:
                log.warning("re-registered %d connections the shared state had lost", len(restored))
            for info in restored:
                # Closed while the refresh ran: take it out again rather than leave a ghost.
                if info.sid not in self.live:
                    await self.services.presence.disconnect(info.connection_id)

    async def shutdown(self) -> None:
        """SIGTERM: refuse newcomers, finish in-flight events, say goodbye to every socket."""
        self._closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), SHUTDOWN_GRACE_SECONDS)
        await self.transport.shutdown(list(self.live))
        for task in list(self._tasks):
            task.cancel()

    async def _emit(self, sid: str, event: str, data: dict[str, Any]) -> None:
        await self.transport.emit(sid, event, data)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self._loop.create_task(coro)  # runs for every connecting socket
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())
