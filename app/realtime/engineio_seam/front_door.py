"""The first protocol of every accepted TCP connection: fresh Engine.IO websockets are
upgraded here, everything else goes to aiohttp as if it had accepted the connection itself.

A connecting socket cost aiohttp a request handler and its task, the HTTP parser, a request
object, the application's middlewares and router, an environ built from it, and a
`WebSocketResponse` whose handshake and 101 went through aiohttp's writer; once the 101 was
out, owned.py took the connection away again. That was about a fifth of the event loop's
time per connecting socket (docs/benchmarks.md, session 13). Here the upgrade request is
read straight off the connection: when it is exactly `GET /socket.io/?EIO=4&transport=
websocket ...` with a valid websocket handshake and nothing unusual (no body, no `sid`, no
JSONP, well-formed headers), python-engineio is given the environ it would have built, and
writes its answer here: the 101 (or its refusal), after which the connection becomes a
`WebSocketConnection` (owned.py) as before. Anything else, or any doubt, and the bytes read
so far are handed to aiohttp's request handler, which answers as it always did (its
polling, the HTTP API, its 400s for malformed requests).

What this relies on: aiohttp's `web_server.Server` is the protocol factory of its
connections (public: `AppRunner.server`); python-engineio's `translate_request` and
`make_response` (its async driver, replaced for these requests only).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import re
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from multidict import CIMultiDict, CIMultiDictProxy

from app.aio import KeptLoop
from app.realtime.engineio_seam.owned import EMPTY_HEADERS, OwnedConnections, WebSocketConnection

log = logging.getLogger(__name__)

PREFIX = b"GET /socket.io/?"
# Longer heads go to aiohttp, which refuses what is too long with its own answer.
MAX_HEAD = 8192
# Input after the upgrade request, before the 101, past which the door stops reading.
MAX_TAIL = 64 * 1024
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers a fresh websocket request carries at most once, and the ones it never carries.
_SINGLE = frozenset({"upgrade", "sec-websocket-key", "sec-websocket-version", "host"})
_REFUSED = frozenset({"content-length", "transfer-encoding"})

ProtocolFactory = Callable[[], asyncio.Protocol]


class FrontDoorRequest:
    """A fresh websocket's upgrade request, read by the front door: what the socket.io layer
    reads of an aiohttp request (`transport`, `remote`, `headers` for X-Forwarded-For) and
    what the 101 needs (`key`)."""

    __slots__ = ("door", "environ", "headers", "key", "remote", "transport", "upgraded")

    def __init__(
        self, door: FrontDoor, key: str, headers: list[tuple[str, str]], query: str, target: str
    ) -> None:
        transport = door.transport
        assert transport is not None
        self.door: FrontDoor | None = door
        self.transport: asyncio.Transport = transport
        self.key = key
        peer = transport.get_extra_info("peername")
        self.remote: str | None = peer[0] if peer else None
        forwarded = any(name.lower() == "x-forwarded-for" for name, _ in headers)
        self.headers = CIMultiDictProxy(CIMultiDict(headers)) if forwarded else EMPTY_HEADERS
        self.upgraded = False
        self.environ: dict[str, Any] | None = _environ(self, headers, query, target)

    def accept(self, write: Callable[[bytes], None]) -> None:
        """Write the 101 (RFC 6455 section 4.2.2; no extension, no subprotocol) with `write`:
        the socket's frame writer, so that it leaves in one system call with the frames
        written after it (the Engine.IO open packet)."""
        digest = hashlib.sha1(self.key.encode() + WEBSOCKET_GUID).digest()
        write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + base64.b64encode(digest) + b"\r\n\r\n"
        )
        self.upgraded = True
        self.key = ""  # the request stays in the socket's environ for its whole life

    def hand_over(self, protocol: asyncio.Protocol) -> bytes | None:
        """Make `protocol` the connection's; what arrived after the upgrade request (for
        `protocol`), or None if the connection is gone."""
        door, self.door = self.door, None
        transport = self.transport
        if door is None or transport.is_closing():
            return None
        tail = door.leave()
        transport.set_protocol(protocol)
        if not transport.is_reading():  # the door paused it for a long tail
            transport.resume_reading()
        return tail


class FrontDoorResponse:
    """python-engineio's answer other than a 101 (its `make_response`), written as is."""

    __slots__ = ("headers", "payload", "status")

    def __init__(self, status: str, headers: list[tuple[str, str]], payload: Any) -> None:
        self.status = status
        self.headers = headers
        self.payload = payload if isinstance(payload, bytes) else str(payload or "").encode()

    def encode(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines += [f"Content-Length: {len(self.payload)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + self.payload


class FrontDoor(asyncio.Protocol):
    """See the module docstring. One per accepted connection, until it is handed on."""

    __slots__ = ("_buffer", "_http", "_serve", "_state", "transport")

    def __init__(self, http: ProtocolFactory, serve: Callable[[FrontDoorRequest], Any]) -> None:
        self._http = http
        self._serve = serve
        self._buffer = b""
        self._state = "head"  # then "serving" (the engine has the request), then "left"
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        if self._state != "head":
            # After the upgrade request: the websocket's first frames, for its protocol.
            self._buffer = buffer
            if len(buffer) > MAX_TAIL and self.transport is not None:
                self.transport.pause_reading()  # TCP pushes back until the hand-over
            return
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) < MAX_HEAD and (buffer.startswith(PREFIX) or PREFIX.startswith(buffer)):
                self._buffer = buffer
                return
            self._to_http(buffer)
            return
        request = self._read(buffer[:end]) if buffer.startswith(PREFIX) else None
        if request is None:
            self._to_http(buffer)
            return
        self._buffer = buffer[end + 4 :]
        self._state = "serving"
        self._serve(request)

    def eof_received(self) -> bool | None:
        return None  # closes the connection: a half-closed client gets no upgrade

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = "left"
        self._buffer = b""

    def leave(self) -> bytes:
        """The connection is another protocol's now: what arrived since the request."""
        tail, self._buffer = self._buffer, b""
        self._state = "left"
        return tail

    def _read(self, head: bytes) -> FrontDoorRequest | None:
        parsed = parse_upgrade(head)
        if parsed is None:
            return None
        key, headers, query, target = parsed
        return FrontDoorRequest(self, key, headers, query, target)

    def _to_http(self, buffer: bytes) -> None:
        transport = self.transport
        assert transport is not None
        self._state = "left"
        self._buffer = b""
        handler = self._http()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if buffer:
            handler.data_received(buffer)


def parse_upgrade(head: bytes) -> tuple[str, list[tuple[str, str]], str, str] | None:
    """(Sec-WebSocket-Key, headers, query string, target) of a fresh Engine.IO websocket's
    upgrade request, or None for anything else (aiohttp's to answer)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1":
        return None
    target = parts[1]
    if "#" in target:
        return None
    query = target[len("/socket.io/?") :]
    headers: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name) or _CONTROL.search(value):
            return None
        value = value.strip(" \t")
        lower = name.lower()
        if lower in _REFUSED or (lower in _SINGLE and lower in seen):
            return None
        seen[lower] = f"{seen[lower]},{value}" if lower in seen else value
        headers.append((name, value))
    if seen.get("upgrade", "").lower() != "websocket":
        return None
    if "upgrade" not in (t.strip() for t in seen.get("connection", "").lower().split(",")):
        return None
    if seen.get("sec-websocket-version") != "13":
        return None
    key = seen.get("sec-websocket-key", "")
    try:
        if len(key) != 24 or len(base64.b64decode(key, validate=True)) != 16:
            return None
    except (binascii.Error, ValueError):
        return None
    fields = parse_qs(query, keep_blank_values=True)
    if fields.get("EIO") != ["4"] or fields.get("transport") != ["websocket"]:
        return None
    if "sid" in fields or "j" in fields:
        return None  # an upgrade from long-polling, or JSONP: aiohttp's
    return key, headers, query, target


def _environ(
    request: FrontDoorRequest, headers: list[tuple[str, str]], query: str, target: str
) -> dict[str, Any]:
    # What python-engineio's aiohttp driver builds (translate_request), from these headers.
    environ: dict[str, Any] = {
        "wsgi.input": None,
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "aiohttp",
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": query,
        "RAW_URI": target,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "SERVER_NAME": "aiohttp",
        "SERVER_PORT": "0",
        "aiohttp.request": request,
    }
    for name, value in headers:
        key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    environ["PATH_INFO"] = "/socket.io/"
    environ["SCRIPT_NAME"] = ""
    return environ


class FrontDoorFactory:
    """The listening socket's protocol factory: a `FrontDoor` per connection, in front of
    aiohttp's `Server` (`http`), serving upgrades with python-engineio's server `eio`."""

    def __init__(self, http: ProtocolFactory, eio: Any) -> None:
        self._http = http
        self._eio = eio
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = KeptLoop()

    def __call__(self) -> FrontDoor:
        return FrontDoor(self._http, self._start)

    def _start(self, request: FrontDoorRequest) -> None:
        task = self._loop.create_task(self._serve(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, request: FrontDoorRequest) -> None:
        transport = request.transport
        try:
            response = await self._eio.handle_request(request)
        except Exception:
            log.exception("a websocket upgrade failed")
            response = None if request.upgraded else _server_error()
        if request.door is not None and not request.upgraded:
            # Refused (python-engineio's 400 or 401), or failed before the 101.
            request.door.leave()
            request.door = None
            answer = response if isinstance(response, FrontDoorResponse) else _server_error()
            if not transport.is_closing():
                transport.write(answer.encode())
                transport.close()
        elif request.door is not None:
            # Upgraded, but nobody took the connection (the engine gave up on it).
            request.door = None
            transport.close()


def take_over_door(request: FrontDoorRequest, socket: Any, registry: OwnedConnections) -> bool:
    """Make `socket`'s connection, upgraded by the front door, a `WebSocketConnection`
    (owned.py); False if it is gone already."""
    connection = WebSocketConnection(request.transport, socket, registry)
    tail = request.hand_over(connection)
    if tail is None:
        return False
    registry.add(connection)
    # The 101 and the open packet, in the socket's writer, go out now: in one system call,
    # and before anything written straight to the transport (a pong for a ping in `tail`).
    if socket.writer is not None:
        socket.writer.flush()
    if tail:
        connection.data_received(tail)
    return True


def _server_error() -> FrontDoorResponse:
    return FrontDoorResponse("500 Internal Server Error", [], b"Internal Server Error")


def translate_request(fallback: Callable[..., Any]) -> Callable[..., Any]:
    """python-engineio's `translate_request`: the front door's environ for its requests."""

    def translate(request: Any, *args: Any, **kwargs: Any) -> Any:
        if type(request) is FrontDoorRequest:
            environ, request.environ = request.environ, None
            return environ
        return fallback(request, *args, **kwargs)

    return translate


def make_response(fallback: Callable[..., Any]) -> Callable[..., Any]:
    """python-engineio's `make_response`: raw for the front door's requests."""

    def make(status: str, headers: list[tuple[str, str]], payload: Any, environ: Any) -> Any:
        if type(environ.get("aiohttp.request")) is FrontDoorRequest:
            return FrontDoorResponse(status, headers, payload)
        return fallback(status, headers, payload, environ)

    return make
