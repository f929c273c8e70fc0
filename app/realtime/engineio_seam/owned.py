"""A fresh websocket's connection taken over from aiohttp once its 101 is written.

aiohttp serves a websocket inside the HTTP request that upgraded it: for the connection's
whole life it keeps its request handler (the protocol), the request, the response, a frame
reader with its message queue, the handler's task and the request's task with their coroutine
frames (~13 KB per idle connection by a tracemalloc diff, docs/benchmarks.md). A direct socket
(engine.py) writes its own frames already; here it reads them too:

- `OwnedWebSocketResponse` negotiates the handshake as aiohttp does but sets up no reader, and
  its end of the response (`write_eof`, `close`) writes nothing: the connection is not the
  response's any more.
- `take_over` makes a `WebSocketConnection` the transport's protocol (`set_protocol`), feeds it
  what arrived after the upgrade request, and lets aiohttp's machinery go: the request handler
  forgets the transport (so that it neither closes it nor is told of its end) and leaves the
  server's table of connections; the handler task returns and everything of the request is
  freed by reference counting. What the socket.io layer still reads of the request (its
  transport, remote address, X-Forwarded-For) stays in the environ as a `HandedOverRequest`.
- `WebSocketConnection` parses the client's frames (RFC 6455: masked, fragmented, control
  frames between fragments, the close handshake, ping answered with pong, `max_payload` per
  message) and hands each message to `DirectSocket.handle_message` in order, from a task that
  exists only while there is input. Its end (a close frame, a protocol error, a broken
  connection, a ping timeout's abort) ends the socket as the reader loop did
  (`DirectSocket.finish`).

What it relies on in aiohttp is listed in contract.py (`web_protocol.RequestHandler`'s
`transport`, `_message_tail`, `_manager`, `force_close`, `keep_alive`;
`web_server.Server.connection_lost`; `WebSocketResponse._post_start`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import struct
from typing import Any

from aiohttp.web import WebSocketResponse
from multidict import CIMultiDict, CIMultiDictProxy

log = logging.getLogger(__name__)

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CLOSE_OK, CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR = 1000, 1001, 1002
CLOSE_INVALID_DATA, CLOSE_TOO_BIG = 1007, 1009
# Input waiting for its socket past which the connection stops reading (TCP pushes back).
INBOX_HIGH_WATER = 64 * 1024
_END = object()  # in the inbox: the connection is gone, after whatever came before it
EMPTY_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    """An unmasked control frame (a server's), payload at most 125 bytes."""
    return struct.pack("!BB", 0x80 | opcode, len(payload)) + payload


def close_frame(code: int) -> bytes:
    return control_frame(OP_CLOSE, struct.pack("!H", code))


def unmask(mask: bytes, data: bytes) -> bytes:
    size = len(data)
    if not size:
        return data
    key = (mask * ((size >> 2) + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


def _valid_close_code(code: int) -> bool:
    # RFC 6455 section 7.4: what an endpoint may send; 1004-1006 and 1015 never on the wire.
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


class ProtocolError(Exception):
    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


class HandedOverRequest:
    """What stays of the aiohttp request in the socket's environ (`aiohttp.request`) once the
    connection is taken over: what the gateway reads of it (net.client_ip, the transport)."""

    __slots__ = ("headers", "remote", "transport")

    def __init__(self, request: Any, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.remote = request.remote
        headers = request.headers
        self.headers = headers if "X-Forwarded-For" in headers else EMPTY_HEADERS


class OwnedWebSocketResponse(WebSocketResponse):
    """aiohttp's handshake and 101, without aiohttp's reader: `take_over` reads instead."""

    def _post_start(self, request: Any, protocol: str | None, writer: Any) -> None:
        self._ws_protocol = protocol
        self._writer = writer
        # No frame reader: until `take_over` (in the same task, right after `prepare`),
        # aiohttp buffers what arrives after the upgrade request in `_message_tail`.
        request.protocol.keep_alive(False)

    async def write_eof(self) -> None:  # type: ignore[override]
        return None  # the connection is WebSocketConnection's

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        return False


def take_over(
    response: OwnedWebSocketResponse,
    environ: dict[str, Any],
    socket: Any,
    registry: OwnedConnections,
) -> bool:
    """Make `socket`'s connection a `WebSocketConnection`; False if aiohttp's request is not
    in the shape this was written for (then nothing was changed)."""
    request = response._req
    handler = getattr(request, "_protocol", None)
    transport = getattr(handler, "transport", None)
    manager = getattr(handler, "_manager", None)
    if transport is None or manager is None or transport.is_closing():
        return False
    tail = handler._message_tail
    connection = WebSocketConnection(transport, socket, registry)
    # The handler forgets the transport: its start() loop then neither closes it when the
    # request ends nor waits on it, and force_close() stops that loop after this request.
    handler._message_tail = b""
    # The HTTP parser refers back to the handler: a reference cycle that only a full
    # collection (rare under app/heap.py) would free, with the handler behind it.
    handler._parser = None
    handler.transport = None
    handler.force_close()
    manager.connection_lost(handler, None)  # out of the server's table once start() returns
    transport.set_protocol(connection)
    if not transport.is_reading():  # aiohttp paused it for a long tail
        transport.resume_reading()
    environ["aiohttp.request"] = HandedOverRequest(request, transport)
    environ["wsgi.input"] = None  # the upgrade request's (empty) body
    registry.add(connection)
    if tail:
        connection.data_received(tail)
    return True


class WebSocketConnection(asyncio.Protocol):
    """One taken-over websocket: parses the client's frames and feeds its DirectSocket."""

    __slots__ = (
        "_buffer",
        "_closing",
        "_context",
        "_fragment_opcode",
        "_fragment_size",
        "_fragments",
        "_inbox",
        "_inbox_bytes",
        "_limit",
        "_registry",
        "_task",
        "socket",
        "transport",
    )

    def __init__(
        self, transport: asyncio.Transport, socket: Any, registry: OwnedConnections
    ) -> None:
        self.transport = transport
        self.socket = socket
        self._registry = registry
        self._limit: int = socket.server.max_http_buffer_size
        self._buffer = b""
        self._closing = False  # a close frame was sent or the connection is gone
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = 0
        self._fragment_size = 0
        self._inbox: list[Any] | None = None
        self._inbox_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self._context: contextvars.Context | None = None

    # ---- asyncio.Protocol -----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        buffer = self._buffer + data if self._buffer else data
        try:
            used = self._parse(buffer)
        except ProtocolError as exc:
            log.info("%s: websocket protocol error (%s); closing", self.socket.sid, exc)
            self._buffer = b""
            self.close(exc.code)
            return
        self._buffer = buffer[used:] if used < len(buffer) else b""

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: BaseException | None) -> None:
        self._closing = True
        self._buffer = b""
        self._fragments = None
        self._registry.lost(self)
        self._deliver(_END)

    # ---- frames ---------------------------------------------------------------------

    def _parse(self, buffer: bytes) -> int:
        """Handle every whole frame in `buffer`; the number of bytes used."""
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            if first & 0x70:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
            if not second & 0x80:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "an unmasked client frame")
            opcode, fin, length = first & 0x0F, first & 0x80, second & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                header = 10
            if opcode >= 0x8:
                if not fin or length > 125:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "a fragmented or long control frame")
                if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"opcode {opcode:#x}")
            elif opcode > OP_BINARY:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"opcode {opcode:#x}")
            elif self._fragment_size + length > self._limit:
                # Refused before its payload is read: memory stays bounded by max_payload.
                raise ProtocolError(CLOSE_TOO_BIG, "a message over max_payload")
            end = pos + header + 4 + length
            if end > size:
                break
            start = pos + header + 4
            payload = unmask(buffer[pos + header : start], buffer[start:end])
            pos = end
            self._frame(opcode, bool(fin), payload)
            if self._closing:
                return size
        return pos

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode == OP_PING:
            self.transport.write(control_frame(OP_PONG, payload))
        elif opcode == OP_PONG:
            pass
        elif opcode == OP_CLOSE:
            self._close_received(payload)
        elif opcode == OP_CONTINUATION:
            fragments = self._fragments
            if fragments is None:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "a continuation of nothing")
            fragments.append(payload)
            self._fragment_size += len(payload)
            if fin:
                self._fragments = None
                self._fragment_size = 0
                self._message(self._fragment_opcode, b"".join(fragments))
        elif self._fragments is not None:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "a new message inside a fragmented one")
        elif fin:
            self._message(opcode, payload)
        else:
            self._fragments = [payload]
            self._fragment_opcode = opcode
            self._fragment_size = len(payload)

    def _message(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                raise ProtocolError(CLOSE_INVALID_DATA, "text that is not UTF-8") from None
            self._deliver(text, len(payload))
        else:
            self._deliver(payload, len(payload))

    def _close_received(self, payload: bytes) -> None:
        if len(payload) == 1:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "a one-byte close payload")
        if payload:
            code = int.from_bytes(payload[:2], "big")
            if not _valid_close_code(code):
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"close code {code}")
            try:
                payload[2:].decode()
            except UnicodeDecodeError:
                raise ProtocolError(CLOSE_INVALID_DATA, "a close reason not UTF-8") from None
        # The close handshake: answer (as aiohttp did, with 1000) and end the connection.
        self.close(CLOSE_OK)

    def close(self, code: int) -> None:
        """Send a close frame and close the transport (its end then finishes the socket)."""
        if self._closing:
            return
        self._closing = True
        transport = self.transport
        if not transport.is_closing():
            writer = self.socket.writer
            if writer is not None:
                writer.flush()  # what the socket already wrote goes out before the close
            transport.write(close_frame(code))
            transport.close()

    # ---- to the socket, in order ----------------------------------------------------

    def _deliver(self, item: Any, size: int = 0) -> None:
        inbox = self._inbox
        if inbox is None:
            self._inbox = inbox = []
        inbox.append((item, size))
        if size:
            self._inbox_bytes += size
            if self._inbox_bytes > INBOX_HIGH_WATER and not self._closing:
                with contextlib.suppress(Exception):
                    self.transport.pause_reading()
        if self._task is None:
            # One context for the connection's life, as the reader loop's one task had:
            # what a packet's decoding sets (ack_requested, when a binary event's
            # attachment comes in a later read) is still there for the packet's handler.
            if self._context is None:
                self._context = contextvars.copy_context()
            loop = self._registry.loop or asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), context=self._context)

    async def _run(self) -> None:
        socket = self.socket
        try:
            while inbox := self._inbox:
                item, size = inbox.pop(0)
                if item is _END:
                    self._inbox = None
                    await self._finish()
                    return
                if size:
                    was_high = self._inbox_bytes > INBOX_HIGH_WATER
                    self._inbox_bytes -= size
                    if was_high and self._inbox_bytes <= INBOX_HIGH_WATER and not self._closing:
                        with contextlib.suppress(Exception):
                            self.transport.resume_reading()
                if not await socket.handle_message(item) or socket.closed:
                    # An invalid Engine.IO packet, or the session closed (the client's
                    # Engine.IO close packet, say): the connection ends as the reader loop's
                    # did (a close frame, then the socket's end).
                    self._inbox = None
                    self.close(CLOSE_OK)
                    await self._finish()
                    return
            self._inbox = None  # idle: no list, no task
        except Exception:
            log.exception("%s: the websocket's input failed", socket.sid)
            self._inbox = None
            self.close(CLOSE_GOING_AWAY)
        finally:
            self._task = None

    async def _finish(self) -> None:
        try:
            await self.socket.finish()
        finally:
            self._registry.finished(self)


def hang_up(writer: Any, code: int) -> None:
    """End a direct socket's connection once its session is over (the server's disconnect,
    an auth timeout, a ping timeout noticed by a send), after what `writer` (its
    `FrameWriter`) holds, the Engine.IO close packet last. A client that ignores the close
    packet would otherwise keep its connection, a file descriptor and its buffers for as long
    as it liked: nothing reads a closed socket's pings, and its input has no timeout."""
    transport = writer.transport
    if transport.is_closing():
        return
    protocol = transport.get_protocol()
    if isinstance(protocol, WebSocketConnection):
        protocol.close(code)  # a close frame, then the transport; its end follows
    else:
        writer.flush()
        transport.close()


class OwnedConnections:
    """The connections taken over, for the shutdown: aiohttp no longer knows them, so it
    neither closes them nor waits for their ends, as it did for its request handlers. A
    connection counts until its socket's end has run (the disconnect handler, which takes
    the connection out of the shared state in Redis: cut short by the process's exit, it
    would leave the user's connection counted, and refused past the per-user limit, until
    the stale-connection sweep)."""

    def __init__(self) -> None:
        self.open: set[WebSocketConnection] = set()
        # Python 3.11's asyncio.get_running_loop() makes a getpid() system call each time:
        # ~2.5% of the event loop's time in fan-out (py-spy --native), so the per-message
        # paths use this instead (set by `add`, which runs on the loop).
        self.loop: asyncio.AbstractEventLoop | None = None
        self._unfinished: set[WebSocketConnection] = set()
        self._all_finished = asyncio.Event()
        self._all_finished.set()

    def __len__(self) -> int:
        return len(self.open)

    def add(self, connection: WebSocketConnection) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        self.open.add(connection)
        self._unfinished.add(connection)
        self._all_finished.clear()

    def lost(self, connection: WebSocketConnection) -> None:
        self.open.discard(connection)

    def finished(self, connection: WebSocketConnection) -> None:
        self.open.discard(connection)
        self._unfinished.discard(connection)
        if not self._unfinished:
            self._all_finished.set()

    async def close(self, code: int = CLOSE_GOING_AWAY, wait_seconds: float = 3.0) -> int:
        """Shutdown: a close frame to every open connection, its transport closed, then wait
        (at most `wait_seconds`) until every connection's end has run, also of those that ended
        just before. The number closed."""
        connections = list(self.open)
        for connection in connections:
            connection.close(code)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_finished.wait(), wait_seconds)
        return len(connections)
