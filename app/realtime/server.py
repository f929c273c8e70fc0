"""The python-socketio server, tuned for Campfire."""

from __future__ import annotations

import contextvars
from typing import Any

import socketio
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from app.config import Settings
from app.realtime.engine import DirectSocket, WriteCoalescer, engineio_frame
from app.realtime.transport import (
    FanoutManager,
    FanoutRedisManager,
    encode_event,
    websocket_class,
    write_direct,
)

# Whether the client event being handled asked for an ack: a failure then goes into the
# ack envelope, otherwise it is sent as an `Error` event (PROTOCOL.md section 4).
ack_requested: contextvars.ContextVar[bool] = contextvars.ContextVar("ack_requested", default=False)


class CampfireSocketServer(socketio.AsyncServer):
    async def _handle_event(self, eio_sid: str, namespace: str, id: Any, data: Any) -> None:
        token = ack_requested.set(id is not None)
        try:
            await super()._handle_event(eio_sid, namespace, id, data)
        finally:
            ack_requested.reset(token)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> None:
        socket = self.eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket:
            socket.__class__ = DirectSocket  # see app.realtime.engine
        await super()._handle_eio_connect(eio_sid, environ)

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        # Acks and control packets take the same direct path as fan-out when order allows.
        encoded = pkt.encode()
        socket = self.eio.sockets.get(eio_sid)
        if isinstance(encoded, str) and socket is not None:
            if write_direct(socket, engineio_frame(encoded)):
                return
        await super()._send_packet(eio_sid, pkt)

    def event_frame(self, event: str, data: Any) -> bytes:
        encoded = encode_event(event, data)
        assert encoded is not None
        return engineio_frame(encoded)


def create_socket_server(settings: Settings) -> CampfireSocketServer:
    manager: FanoutManager
    if settings.redis_url:
        manager = FanoutRedisManager(
            settings.redis_url, channel=f"{settings.redis_prefix}:socketio"
        )
    else:
        manager = FanoutManager()
    manager.max_queued_packets = settings.max_outgoing_packets
    manager.max_buffered_bytes = settings.max_outgoing_bytes
    manager.max_rooms_per_connection = settings.max_rooms_per_connection
    sio = CampfireSocketServer(
        async_mode="aiohttp",
        client_manager=manager,
        # One event at a time per connection keeps a client's own messages in the order
        # it sent them; other connections are handled concurrently.
        async_handlers=False,
        cors_allowed_origins="*",
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        # Bigger frames than the largest valid event are refused by the transport.
        max_http_buffer_size=256 * 1024,
        logger=False,
        engineio_logger=False,
        json=_OrjsonCodec,
        serializer=JsonPacket,
    )
    sio.eio.write_coalescer = WriteCoalescer()
    sio.eio._async = dict(sio.eio._async, websocket=websocket_class(settings.websocket_compression))
    return sio


class JsonPacket(sio_packet.Packet):
    """Campfire's events are JSON only: skip python-socketio's recursive scan of every
    outgoing payload for binary attachments (a client's binary packets still decode)."""

    uses_binary_events = False


class _OrjsonCodec:
    """JSON for Socket.IO packets through orjson: several times faster than the stdlib."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        import orjson

        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, **kwargs: Any) -> Any:
        import orjson

        return orjson.loads(data)
