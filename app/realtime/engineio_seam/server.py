"""The python-socketio server, tuned for Campfire: the fast path's hooks into it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import inspect
import logging
import os
from typing import Any

import socketio
from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket as EngineIOWebSocket
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from app.config import Settings
from app.realtime.engineio_seam import contract
from app.realtime.engineio_seam.engine import (
    DirectSocket,
    WriteCoalescer,
    engineio_frame,
    write_direct,
)
from app.realtime.engineio_seam.front_door import (
    FrontDoorRequest,
    make_response,
    translate_request,
)
from app.realtime.engineio_seam.manager import (
    CampfireManager,
    CampfireRedisManager,
    FanoutManager,
    FanoutRedisManager,
    encode_event,
)
from app.realtime.engineio_seam.owned import OwnedConnections, OwnedWebSocketResponse
from app.realtime.engineio_seam.polling import BoundedPollSocket
from app.realtime.engineio_seam.sharded_pubsub import ShardedPubSub

log = logging.getLogger(__name__)

# Whether the client event being handled asked for an ack: a failure then goes into the
# ack envelope, otherwise it is sent as an `Error` event (PROTOCOL.md section 4).
ack_requested: contextvars.ContextVar[bool] = contextvars.ContextVar("ack_requested", default=False)

# Names python-socketio (and socket.io-client) keep for the connection's own life. A client
# event by one of them (`42["disconnect",{}]`) would otherwise run the server's own handler
# while the socket stays open. JsonPacket.decode turns it into the unnamed event, refused.
RESERVED_EVENTS = frozenset(
    {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
        "*",
    }
)


class HangUpOnDisconnect(socketio.AsyncServer):
    """The server's disconnect of a socket closes its Engine.IO connection too.

    python-socketio's `disconnect` ends the namespace only (a Socket.IO DISCONNECT packet)
    and leaves the Engine.IO connection open: its own clients and socket.io-client then close
    it, but a client that does not keeps the connection, answered pings and all, uncounted by
    the connection limits, which count sessions (Node's `socket.disconnect(true)` closes it).
    Campfire serves one namespace, so a socket without one has nothing left to carry. On the
    process that holds the socket only: another process's socket is disconnected by its own
    process, which python-socketio asks through the message queue (`ignore_queue` there)."""

    async def disconnect(
        self, sid: str, namespace: str | None = None, ignore_queue: bool = False
    ) -> None:
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace or "/")
        await super().disconnect(sid, namespace=namespace, ignore_queue=ignore_queue)
        if eio_sid is None or eio_sid not in self.eio.sockets:
            return
        if any(
            self.manager.sid_from_eio_sid(eio_sid, other) is not None
            for other in self.manager.get_namespaces()
        ):
            return
        await self.eio.disconnect(eio_sid)


class StockSocketServer(HangUpOnDisconnect):
    """python-socketio's server as shipped, but for long-polling responses that its own
    client can read (polling.py)."""

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> None:
        socket = self.eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket:
            socket.__class__ = BoundedPollSocket
        await super()._handle_eio_connect(eio_sid, environ)


class CampfireSocketServer(HangUpOnDisconnect):
    # Whether each event handler is a coroutine function, asked once per handler.
    _coroutine_handlers: dict[Any, bool]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._coroutine_handlers = {}

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> None:
        socket = self.eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket:
            socket.__class__ = DirectSocket  # see engineio_seam.engine
        await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        # A client event (`2...`), the packet nearly every frame a client sends carries: its
        # handler called here, as python-socketio's _handle_event, _handle_event_internal and
        # _trigger_event would call it, in one frame instead of four and without inspecting
        # the handler on every call. Everything else, and any configuration this does not
        # cover (concurrent handlers, a namespace without a plain handler), takes the stock
        # path.
        if (
            type(data) is str
            and data[:1] == "2"
            and not self.async_handlers
            and eio_sid not in self._binary_packet
        ):
            pkt = self.packet_class(encoded_packet=data)
            namespace = pkt.namespace or "/"
            event_args = pkt.data
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
            if not self.manager.is_connected(sid, namespace):
                return
            handler, args = self._get_event_handler(
                event_args[0], namespace, (sid, *event_args[1:])
            )
            if handler is None or not self._is_coroutine(handler):
                await self._handle_event_internal(self, sid, eio_sid, event_args, namespace, pkt.id)
                return
            try:
                result = await handler(*args)
            except asyncio.CancelledError:  # as python-socketio: no answer but an empty ack
                result = None
            if pkt.id is not None:
                if result is None:
                    answer = []
                elif isinstance(result, tuple):
                    answer = list(result)
                else:
                    answer = [result]
                ack = self.packet_class(sio_packet.ACK, namespace=namespace, id=pkt.id, data=answer)
                await self._send_packet(eio_sid, ack)
            return
        await super()._handle_eio_message(eio_sid, data)

    def _is_coroutine(self, handler: Any) -> bool:
        known = self._coroutine_handlers.get(handler)
        if known is None:
            known = self._coroutine_handlers[handler] = inspect.iscoroutinefunction(handler)
        return known

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        # Acks and control packets take the same direct path as fan-out when order allows.
        encoded = pkt.encode()
        socket = self.eio.sockets.get(eio_sid)
        if isinstance(encoded, str) and socket is not None:
            if write_direct(socket, engineio_frame(encoded)):
                return
        await super()._send_packet(eio_sid, pkt)


def event_frame(event: str, data: Any) -> bytes:
    """The websocket frame of one JSON Socket.IO event on the default namespace."""
    encoded = encode_event(event, data)
    assert encoded is not None
    return engineio_frame(encoded)


def create_socket_server(settings: Settings) -> socketio.AsyncServer:
    """The fast path unless switched off (CAMPFIRE_ENGINE_FAST_PATH=0) or unless the installed
    libraries lack something it relies on (contract.py): then python-socketio as shipped."""
    fast = settings.engine_fast_path
    if fast and (broken := contract.fast_path_problems()):
        log.error(
            "the Engine.IO fast path is off: the installed libraries lack what it relies on "
            "(%s); serving python-socketio's stock path",
            "; ".join(broken),
        )
        fast = False
    manager: CampfireManager
    if settings.redis_url:
        redis_manager = FanoutRedisManager if fast else CampfireRedisManager
        manager = redis_manager(
            settings.redis_url,
            channel=f"{settings.redis_prefix}:socketio",
            # A Redis that is down must fail a publish at once, not after the OS's timeout.
            redis_options={"socket_connect_timeout": 2},
        )
    else:
        manager = FanoutManager() if fast else CampfireManager()
    if isinstance(manager, ShardedPubSub):
        manager.shards = settings.pubsub_shards
    manager.max_queued_packets = settings.max_outgoing_packets
    manager.max_buffered_bytes = settings.max_outgoing_bytes
    manager.max_rooms_per_connection = settings.max_rooms_per_connection
    server_class = CampfireSocketServer if fast else StockSocketServer
    sio = server_class(
        async_mode="aiohttp",
        client_manager=manager,
        # One event at a time per connection keeps a client's own messages in the order
        # it sent them; other connections are handled concurrently.
        async_handlers=False,
        cors_allowed_origins="*",
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        # Bigger frames than the largest valid event are refused by the transport; the
        # handshake announces it as maxPayload.
        max_http_buffer_size=settings.max_http_buffer_size,
        logger=False,
        engineio_logger=False,
        json=_OrjsonCodec,
        serializer=JsonPacket,
    )
    if fast:
        sio.eio.generate_id = SessionIds().generate
        sio.eio.write_coalescer = WriteCoalescer()
        # The connections taken over from aiohttp (owned.py), for the shutdown's close frames.
        sio.eio.owned_connections = OwnedConnections()
        websocket = websocket_class(settings.websocket_compression)
        drivers = sio.eio._async
        sio.eio._async = dict(
            drivers,
            websocket=websocket,
            translate_request=translate_request(drivers["translate_request"]),
            make_response=make_response(drivers["make_response"]),
        )
        # Fresh websockets upgraded before aiohttp (front_door.py): not with compression
        # (aiohttp negotiates it), nor with the access log (aiohttp writes it).
        sio.eio.front_door = (
            settings.front_door and not settings.websocket_compression and not settings.access_log
        )
    return sio


class SessionIds:
    """python-engineio's session ids (Engine.IO's and Socket.IO's: two per connection) from
    one `os.urandom` call per 340 ids instead of one per id: the same 12 random bytes and
    3-byte sequence number, in the same URL-safe base64."""

    BATCH = 12 * 340

    def __init__(self) -> None:
        self._random = b""
        self._used = 0
        self._sequence = 0

    def generate(self) -> str:
        if self._used + 12 > len(self._random):
            self._random, self._used = os.urandom(self.BATCH), 0
        start = self._used
        self._used = start + 12
        sequence = self._sequence
        self._sequence = (sequence + 1) & 0xFFFFFF
        raw = self._random[start : start + 12] + sequence.to_bytes(3, "big")
        return base64.urlsafe_b64encode(raw).decode()


def is_fast_path(sio: socketio.AsyncServer) -> bool:
    return isinstance(sio, CampfireSocketServer)


def websocket_class(compress: bool) -> type[EngineIOWebSocket]:
    """python-engineio always lets aiohttp negotiate permessage-deflate, which costs about
    90 KB and a lot of CPU per socket; this variant makes it a setting."""

    class CampfireWebSocket(EngineIOWebSocket):
        transport: Any = None

        async def __call__(self, environ: dict[str, Any]) -> Any:
            request = environ["aiohttp.request"]
            socket = getattr(self.handler, "__self__", None)
            if type(request) is FrontDoorRequest:
                # Read by the front door, which runs only without compression.
                if type(socket) is not DirectSocket or socket.connected:
                    raise RuntimeError("a front door upgrade for a socket it cannot take")
                self._sock = request  # DirectSocket writes its 101 (accept)
                self.environ = environ
                self.transport = request.transport
                await self.handler(self)
                return request
            # A fresh websocket of a direct socket, uncompressed, is taken over from aiohttp
            # once the 101 is written (owned.py); an upgrade from polling is not.
            owned = not compress and type(socket) is DirectSocket and not socket.connected
            response_class = OwnedWebSocketResponse if owned else WebSocketResponse
            self._sock = response_class(
                max_msg_size=self.server.max_http_buffer_size, compress=compress
            )
            try:
                await self._sock.prepare(request)
            except BaseException:
                await self._abandon()
                raise
            if not owned:
                release_http_parser(request)
            self.environ = environ
            if not compress:
                # Whole frames may be written straight to the transport (`DirectSocket`).
                self.transport = request.transport
            await self.handler(self)
            return self._sock

        async def _abandon(self) -> None:
            # The upgrade failed (a client that gave up before a starved process answered
            # it: "Cannot write to closing transport"; a bad Sec-WebSocket-Key). python-
            # engineio registered the Engine.IO socket before and forgets it only when a
            # ping goes unanswered, found by a sweep that visits one socket per loop pass:
            # under a reconnect storm thousands piled up (the soak's leak). End it now.
            socket = getattr(self.handler, "__self__", None)
            if socket is None:
                return
            reason = self.server.reason.TRANSPORT_CLOSE
            with contextlib.suppress(Exception):
                await socket.close(wait=False, abort=True, reason=reason)
            if self.server.sockets.get(socket.sid) is socket:
                del self.server.sockets[socket.sid]

    return CampfireWebSocket


def release_http_parser(request: Any) -> None:
    """Drop aiohttp's HTTP request parser once the websocket has its own frame parser: an
    upgraded connection never parses another HTTP request, and the parser (~800 bytes) would
    otherwise live as long as the connection. aiohttp itself sets it to None when the
    connection is lost and checks for that everywhere it uses it; an aiohttp without these
    private attributes just keeps its parser."""
    protocol = getattr(request, "protocol", None)
    if (
        getattr(protocol, "_upgraded", False)
        and getattr(protocol, "_payload_parser", None) is not None
        and getattr(protocol, "_parser", None) is not None
    ):
        protocol._parser = None


class JsonPacket(sio_packet.Packet):
    """Campfire's events are JSON only: skip python-socketio's recursive scan of every
    outgoing payload for binary attachments (a client's binary packets still decode).

    A custom packet class is python-socketio's documented `serializer` extension; decoding
    is also where two things are learnt before any handler runs (python-socketio decodes a
    packet and runs its handler in one task, so a context variable carries them):
    - whether the client asked for an ack (`ack_requested`);
    - an event that is not `[name, ...]` with a string name (`42null`, `42[7]`, `42[{}]`)
      is turned into the unnamed event `[""]`, which the gateway answers with
      `invalid_message_format`; python-socketio would raise on it (a log, no answer).
    """

    uses_binary_events = False

    def decode(self, encoded_packet: Any) -> int:
        attachments = super().decode(encoded_packet)
        if self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            ack_requested.set(self.id is not None)
            data = self.data
            if not (isinstance(data, list) and data and isinstance(data[0], str)):
                self.data = [""]
            elif data[0] in RESERVED_EVENTS:
                self.data = [""]  # `42["disconnect",{}]` must not reach the server's own handler
        return attachments

    def add_attachment(self, attachment: Any) -> bool:
        try:
            return bool(super().add_attachment(attachment))
        except Exception:
            # A placeholder that names no attachment (`{"_placeholder":true,"num":5}`) makes
            # python-socketio raise here while it still holds the packet as pending: every
            # later frame of the socket would be taken for one more attachment and fail.
            # Complete it instead, with a payload no event accepts (invalid_message_format).
            log.info("a binary event whose placeholders do not match its attachments")
            name = self.data[0] if isinstance(self.data, list) and self.data else ""
            self.data = [name, "(binary placeholders without attachments)"]
            return True


class _OrjsonCodec:
    """JSON for Socket.IO packets through orjson: several times faster than the stdlib."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        import orjson

        try:
            return orjson.dumps(obj).decode()
        except orjson.JSONEncodeError as exc:
            # Binary events and acks are not part of Campfire's protocol (docs/internals.md).
            raise TypeError(f"Campfire sends JSON-only Socket.IO packets: {exc}") from None

    @staticmethod
    def loads(data: str | bytes, **kwargs: Any) -> Any:
        import orjson

        return orjson.loads(data)
