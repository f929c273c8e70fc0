"""What the seam relies on in python-engineio and python-socketio, beyond their documented API.

Written against python-engineio 4.15.1, python-socketio 5.18.1, redis-py 5.3.1 and aiohttp
3.14.5 (the versions in uv.lock; pyproject allows python-engineio>=4.14,<5,
python-socketio>=5.16,<6 and redis>=5.0.1,<6). For any other
version this list decides: `tests/test_internals_contract.py` checks every entry against
the installed libraries, and `create_server` checks the fast path's entries at start-up and
serves the stock path if any is missing (logging which).

Each entry names an attribute of a library class (or module), what kind of thing it must
be, the parameter names a callable must take, which path needs it and why:

- path "fast": only the fast path (CAMPFIRE_ENGINE_FAST_PATH=1, the default) uses it;
- path "both": the stock path uses it too. The stock path uses the libraries as shipped plus
  these few, each with a fallback that degrades a feature rather than break the server
  (slow-consumer detection, the subscription cap, the worker's emit-failure count).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from functools import cache
from typing import Any

# kinds: "method" (a plain function on the class), "coroutine" (an async function on the
# class), "asyncgen" (an async generator function on the class), "attribute" (present on an
# instance made by `sample`), "class" (a class).


@dataclass(frozen=True, slots=True)
class Requirement:
    owner: str  # "module:Class" or "module"
    name: str
    kind: str
    params: tuple[str, ...] | None  # parameter names in order (self first), for callables
    path: str  # "fast" or "both"
    why: str

    @property
    def label(self) -> str:
        return f"{self.owner.replace(':', '.')}.{self.name}"


R = Requirement
_SOCK = "engineio.async_socket:AsyncSocket"
_SRV = "socketio.async_server:AsyncServer"
_MGR = "socketio.async_manager:AsyncManager"

# fmt: off
CONTRACT: tuple[Requirement, ...] = (
    # ---- python-engineio: DirectSocket (engine.py) subclasses AsyncSocket -------------------
    R(_SOCK, "_websocket_handler", "coroutine", ("self", "ws"), "fast",
      "DirectSocket takes over a fresh websocket's reader loop here"),
    R(_SOCK, "receive", "coroutine", ("self", "pkt"), "fast", "each decoded packet"),
    R(_SOCK, "send", "coroutine", ("self", "pkt"), "fast", "overridden: write, not queue"),
    R(_SOCK, "close", "coroutine", ("self", "wait", "abort", "reason"), "both",
      "closing a socket; abort=True cuts a slow consumer"),
    R(_SOCK, "check_ping_timeout", "coroutine", ("self",), "fast", "before each write"),
    R(_SOCK, "schedule_ping", "method", ("self",), "fast",
      "called on every PONG; DirectSocket schedules a timer instead of a task"),
    R(_SOCK, "poll", "coroutine", ("self",), "both",
      "overridden (polling.py): a response of no more packets than python's client reads"),
    R("engineio.payload:Payload", "max_decode_packets", "attribute", None, "both",
      "the most packets python-engineio's client takes in one polling response"),
    R("engineio.exceptions", "QueueEmpty", "class", None, "both",
      "what poll raises when nothing came in time"),
    R(_SOCK, "queue", "attribute", None, "both",
      "packets waiting for a polling or stock websocket; its length is the backlog"),
    R(_SOCK, "last_ping", "attribute", None, "fast", "pong bookkeeping"),
    R(_SOCK, "connected", "attribute", None, "fast", "upgrade or fresh websocket"),
    R(_SOCK, "upgraded", "attribute", None, "both", "set when the websocket takes over"),
    R(_SOCK, "closed", "attribute", None, "both", "liveness"),
    R(_SOCK, "closing", "attribute", None, "fast", "liveness"),
    R(_SOCK, "server", "attribute", None, "fast", "ping settings, coalescer"),
    R(_SOCK, "sid", "attribute", None, "fast", "logging"),
    R("engineio.async_server:AsyncServer", "sockets", "attribute", None, "both",
      "eio sid -> socket, to reach a socket's transport and backlog"),
    R("engineio.async_server:AsyncServer", "_async", "attribute", None, "fast",
      "its 'websocket' entry is replaced to make permessage-deflate a setting"),
    R("engineio.async_server:AsyncServer", "max_http_buffer_size", "attribute", None, "fast",
      "the largest frame DirectSocket accepts"),
    R("engineio.async_server:AsyncServer", "generate_id", "method", ("self",), "fast",
      "replaced per server by SessionIds (server.py), which python-socketio calls too"),
    R("engineio.async_server:AsyncServer", "reason", "attribute", None, "fast",
      "reason.TRANSPORT_CLOSE on a dropped connection"),
    R("engineio.async_drivers.aiohttp:WebSocket", "__call__", "coroutine",
      ("self", "environ"), "fast", "replaced to choose compression and expose the transport"),
    R("engineio.async_drivers.aiohttp:WebSocket", "_sock", "attribute", None, "fast",
      "the aiohttp WebSocketResponse DirectSocket reads from"),
    R("engineio.async_drivers.aiohttp:WebSocket", "handler", "attribute", None, "fast",
      "the socket's _websocket_handler, called by __call__"),
    R("aiohttp.web_ws:WebSocketResponse", "_exception", "attribute", None, "fast",
      "cleared when a broken connection ends: its traceback holds the response in a cycle"),
    # ---- aiohttp: a fresh websocket's connection taken over (owned.py) -----------------------
    R("aiohttp.web_ws:WebSocketResponse", "_post_start", "method",
      ("self", "request", "protocol", "writer"), "fast",
      "OwnedWebSocketResponse sets up no frame reader of aiohttp's here"),
    R("aiohttp.web_ws:WebSocketResponse", "_ws_protocol", "attribute", None, "fast",
      "set by _post_start (the negotiated subprotocol)"),
    R("aiohttp.web_ws:WebSocketResponse", "_writer", "attribute", None, "fast",
      "set by _post_start"),
    R("aiohttp.web_ws:WebSocketResponse", "_req", "attribute", None, "fast",
      "the request whose connection is taken over"),
    R("aiohttp.web_request:BaseRequest", "_protocol", "attribute", None, "fast",
      "the RequestHandler serving the connection"),
    R("aiohttp.web_protocol:RequestHandler", "transport", "attribute", None, "fast",
      "set to None: the handler then neither closes the taken-over transport nor waits on it"),
    R("aiohttp.web_protocol:RequestHandler", "_message_tail", "attribute", None, "fast",
      "what arrived after the upgrade request (with no frame reader set): fed to ours"),
    R("aiohttp.web_protocol:RequestHandler", "_parser", "attribute", None, "fast",
      "the HTTP parser, which refers back to the handler: dropped (else a cycle); also on "
      "the other websockets (release_http_parser)"),
    R("aiohttp.web_protocol:RequestHandler", "_manager", "attribute", None, "fast",
      "the web Server whose table of connections the handler leaves"),
    R("aiohttp.web_protocol:RequestHandler", "force_close", "method", ("self",), "fast",
      "its start() loop ends after the upgrade request (transport already detached)"),
    R("aiohttp.web_protocol:RequestHandler", "keep_alive", "method", ("self", "val"), "fast",
      "False: no keep-alive timer on the upgraded connection"),
    R("aiohttp.web_server:Server", "connection_lost", "method", ("self", "handler", "exc"),
      "fast", "the handler leaves the server's table once its start() returns"),
    # ---- the front door (front_door.py) -------------------------------------------------------
    R("engineio.async_drivers.aiohttp", "translate_request", "method", ("request",), "fast",
      "the driver's entry in _async, wrapped: a front door request brings its own environ"),
    R("engineio.async_drivers.aiohttp", "make_response", "method",
      ("status", "headers", "payload", "environ"), "fast",
      "the driver's entry in _async, wrapped: a front door refusal is written raw"),
    R("engineio.async_server:AsyncServer", "handle_request", "coroutine",
      ("self", "args", "kwargs"), "fast", "called by the front door with its request"),
    R("aiohttp.web_runner:AppRunner", "server", "attribute", None, "fast",
      "aiohttp's protocol factory, behind the front door"),
    R("engineio.packet:Packet", "encode", "method", ("self", "b64"), "fast", "framing"),
    R("engineio.exceptions", "SocketIsClosedError", "class", None, "fast", "reader loop"),
    R("engineio.async_server:AsyncServer", "handlers", "attribute", None, "fast",
      "its 'message' entry (python-socketio's) is called directly for a client event"),
    R("engineio.async_server:AsyncServer", "async_handlers", "attribute", None, "fast",
      "False (python-socketio's setting): handlers run in the reader, in order"),
    # ---- python-socketio server (server.py) ---------------------------------------------------
    R(_SRV, "disconnect", "coroutine", ("self", "sid", "namespace", "ignore_queue"), "both",
      "extended: the server's disconnect closes the Engine.IO connection too"),
    R("socketio.base_manager:BaseManager", "eio_sid_from_sid", "method",
      ("self", "sid", "namespace"), "both", "the Engine.IO session a disconnect closes"),
    R("socketio.base_manager:BaseManager", "get_namespaces", "method", ("self",), "both",
      "a session is closed only when no namespace of it is left"),
    R("engineio.async_server:AsyncServer", "disconnect", "coroutine", ("self", "sid"), "both",
      "closes one Engine.IO session"),
    R(_SRV, "_handle_eio_connect", "coroutine", ("self", "eio_sid", "environ"), "both",
      "the only point where a new engine socket can become a DirectSocket (or, on the stock "
      "path, a BoundedPollSocket)"),
    R(_SRV, "_send_packet", "coroutine", ("self", "eio_sid", "pkt"), "fast",
      "acks and control packets written directly"),
    R(_SRV, "_handle_eio_message", "coroutine", ("self", "eio_sid", "data"), "fast",
      "a client event dispatched to its handler in one step"),
    R(_SRV, "_get_event_handler", "method", ("self", "event", "namespace", "args"), "fast",
      "the handler (and its arguments) for an event, as python-socketio resolves it"),
    R(_SRV, "_handle_event_internal", "coroutine",
      ("self", "server", "sid", "eio_sid", "data", "namespace", "id"), "fast",
      "an event the fast dispatch does not cover (namespace handlers)"),
    R(_SRV, "_binary_packet", "attribute", None, "fast",
      "eio sid -> a binary event waiting for its attachments: stock path"),
    R(_SRV, "async_handlers", "attribute", None, "fast",
      "False: the fast dispatch awaits the handler in the reader, as the stock path does"),
    R(_SRV, "handlers", "attribute", None, "fast", "namespace -> event -> handler"),
    R(_SRV, "packet_class", "attribute", None, "fast", "JsonPacket decodes the event"),
    R(_SRV, "environ", "attribute", None, "both",
      "eio sid -> WSGI-style environ; its aiohttp request holds the transport"),
    R(_SRV, "eio", "attribute", None, "both", "the Engine.IO server"),
    R("socketio.packet:Packet", "decode", "method", ("self", "encoded_packet"), "both",
      "JsonPacket learns ack ids and normalises unnamed events here"),
    R("socketio.packet:Packet", "add_attachment", "method", ("self", "attachment"), "both",
      "a binary event whose placeholders name no attachment must not stay pending"),
    R("socketio.packet:Packet", "uses_binary_events", "attribute", None, "both",
      "False: skip the per-emit scan for binary attachments"),
    R("socketio.packet:Packet", "packet_type", "attribute", None, "both", "decode result"),
    R("socketio.packet:Packet", "id", "attribute", None, "both", "ack id of a decoded event"),
    R("socketio.packet:Packet", "data", "attribute", None, "both", "decoded payload"),
    # ---- python-socketio client manager (manager.py) ------------------------------------------
    R(_MGR, "basic_enter_room", "method", ("self", "sid", "namespace", "room", "eio_sid"),
      "both", "the subscription cap and the per-sid room index"),
    R(_MGR, "basic_leave_room", "method", ("self", "sid", "namespace", "room"), "both",
      "per-sid room index"),
    R(_MGR, "basic_disconnect", "method", ("self", "sid", "namespace", "kwargs"), "both",
      "replaced by a linear one (the stock scan over all rooms is quadratic en masse)"),
    R(_MGR, "emit", "coroutine",
      ("self", "event", "data", "namespace", "room", "skip_sid", "callback", "to", "kwargs"),
      "both", "room emits: encoded once (fast), slow consumers skipped (both)"),
    R(_MGR, "get_participants", "method", ("self", "namespace", "room"), "both",
      "(sid, eio_sid) of a room's members"),
    R(_MGR, "initialize", "method", ("self",), "both", "the room index is made here"),
    R("socketio.base_manager:BaseManager", "sid_from_eio_sid", "method",
      ("self", "eio_sid", "namespace"), "both",
      "the fast dispatch's sid of a client event; a disconnect's remaining namespaces"),
    R("socketio.base_manager:BaseManager", "is_connected", "method",
      ("self", "sid", "namespace"), "fast", "an event of a socket not (or no longer) connected "
      "is dropped, as python-socketio drops it"),
    R(_MGR, "rooms", "attribute", None, "both", "namespace presence check in emit"),
    R(_MGR, "callbacks", "attribute", None, "both", "cleared per sid on disconnect"),
    R(_MGR, "pending_connect", "attribute", None, "both", "cleared per sid on disconnect"),
    R(_MGR, "pending_disconnect", "attribute", None, "both", "cleared per sid on disconnect"),
    R(_MGR, "server", "attribute", None, "both", "packet class and engine sockets"),
    # ---- python-socketio Redis manager (worker.py, the arq worker's emitter) ------------------
    R("socketio.async_redis_manager:AsyncRedisManager", "_publish", "coroutine",
      ("self", "data"), "both", "returns receivers, or None once it gave up: counted"),
    R("socketio.async_redis_manager:AsyncRedisManager", "host_id", "attribute", None, "both",
      "sent with a cross-process disconnect"),
    R("socketio.async_redis_manager:AsyncRedisManager", "redis", "attribute", None, "both",
      "closed with the worker"),
    # ---- python-socketio pub/sub (pubsub_recovery.py, the web processes' Redis managers) ------
    R("socketio.async_pubsub_manager:AsyncPubSubManager", "_handle_emit", "coroutine",
      ("self", "message"), "both", "every emit delivered here is reported to the fan-out audit"),
    R("socketio.async_redis_manager:AsyncRedisManager", "_redis_listen_with_retries",
      "asyncgen", ("self",), "both",
      "replaced: resubscribe at most a second apart and report when back"),
    R("socketio.async_redis_manager:AsyncRedisManager", "_redis_connect", "method", ("self",),
      "both", "a fresh Redis client for the subscription and for publishing"),
    R("socketio.async_redis_manager:AsyncRedisManager", "channel", "attribute", None, "both",
      "the shared channel; shard channels are named after it"),
    R("socketio.async_redis_manager:AsyncRedisManager", "connected", "attribute", None, "both",
      "a shard publish reconnects like python-socketio's own publish"),
    # ---- sharded fan-out (sharded_pubsub.py) ----------------------------------------------------
    R("socketio.async_redis_manager:AsyncRedisManager", "_listen", "asyncgen", ("self",),
      "both", "replaced: shard messages decoded here, the process's own skipped undecoded"),
    R("socketio.async_pubsub_manager:AsyncPubSubManager", "_thread", "coroutine", ("self",),
      "both", "the reader: takes _listen's messages as dicts or JSON, dispatches by method"),
    R("socketio.async_pubsub_manager:AsyncPubSubManager", "enter_room", "coroutine",
      ("self", "sid", "namespace", "room", "eio_sid"), "both",
      "a local socket's room: its shard subscribed (and confirmed) first"),
    R("socketio.async_pubsub_manager:AsyncPubSubManager", "_handle_enter_room", "coroutine",
      ("self", "message"), "both", "another process's request: the shard subscribed first"),
    R("socketio.base_manager:BaseManager", "is_sid_room", "method",
      ("self", "namespace", "room"), "both", "an emit to a local sid is not published"),
    R("redis.asyncio.client:PubSub", "execute_command", "coroutine", ("self", "args"), "both",
      "SSUBSCRIBE / SUNSUBSCRIBE (redis-py 5's asyncio PubSub has no ssubscribe)"),
    R("redis.asyncio.client:PubSub", "listen", "asyncgen", ("self",), "both",
      "yields smessage / ssubscribe replies as dicts with type, channel and data"),
)
# fmt: on


def _sample(owner: str) -> Any:
    """An instance of `owner` made from the installed library, to look for attributes that
    are set in `__init__`."""
    if owner == _SOCK:
        import engineio
        from engineio.async_socket import AsyncSocket

        return AsyncSocket(engineio.AsyncServer(async_mode="aiohttp"), "contract")
    if owner == "engineio.async_server:AsyncServer":
        import engineio

        return engineio.AsyncServer(async_mode="aiohttp")
    if owner == "engineio.async_drivers.aiohttp:WebSocket":
        from engineio.async_drivers.aiohttp import WebSocket

        ws = WebSocket(lambda _ws: None, None)
        ws._sock = getattr(ws, "_sock", None)  # set by __call__; present on the class?
        return ws
    if owner == "aiohttp.web_ws:WebSocketResponse":
        from aiohttp.web_ws import WebSocketResponse

        return WebSocketResponse()
    if owner == "aiohttp.web_request:BaseRequest":
        from aiohttp.test_utils import make_mocked_request

        return make_mocked_request("GET", "/")
    if owner == _SRV:
        import socketio

        return socketio.AsyncServer(async_mode="aiohttp")
    if owner == _MGR:
        import socketio

        manager = socketio.AsyncManager()
        manager.set_server(socketio.AsyncServer(async_mode="aiohttp", client_manager=manager))
        return manager
    if owner == "socketio.packet:Packet":
        from socketio.packet import Packet

        return Packet()
    if owner == "socketio.async_redis_manager:AsyncRedisManager":
        import socketio

        return socketio.AsyncRedisManager("redis://127.0.0.1:1", write_only=True)
    raise KeyError(owner)


def _resolve(owner: str) -> Any:
    module_name, _, cls_name = owner.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name) if cls_name else module


def _versions() -> str:
    from importlib.metadata import version

    libraries = ("python-engineio", "python-socketio", "redis", "aiohttp")
    return ", ".join(f"{p} {version(p)}" for p in libraries)


def problem(req: Requirement) -> str | None:
    """What is wrong with `req` in the installed libraries, or None."""
    try:
        owner = _resolve(req.owner)
    except (ImportError, AttributeError) as exc:
        return f"{req.owner} is gone ({exc})"
    if req.kind == "attribute":
        if hasattr(owner, req.name):
            return None
        try:
            instance = _sample(req.owner)
        except Exception as exc:
            return f"{req.label}: cannot make a {req.owner} to look for it ({exc!r})"
        return None if hasattr(instance, req.name) else f"{req.label} is missing"
    target = getattr(owner, req.name, None)
    if target is None:
        return f"{req.label} is missing"
    if req.kind == "class":
        return None if inspect.isclass(target) else f"{req.label} is no longer a class"
    if req.kind == "coroutine" and not inspect.iscoroutinefunction(target):
        return f"{req.label} is no longer a coroutine function"
    if req.kind == "asyncgen" and not inspect.isasyncgenfunction(target):
        return f"{req.label} is no longer an async generator function"
    if req.kind in ("method", "coroutine", "asyncgen") and req.params is not None:
        found = tuple(inspect.signature(target).parameters)
        if found != req.params:
            return (
                f"{req.label} changed signature: expected ({', '.join(req.params)}), "
                f"found ({', '.join(found)})"
            )
    return None


def problems(paths: tuple[str, ...] = ("fast", "both")) -> list[str]:
    """Every broken requirement of the given paths, each message naming it."""
    found = [p for req in CONTRACT if req.path in paths and (p := problem(req))]
    return [f"{p} [{_versions()}]" for p in found]


@cache
def fast_path_problems() -> tuple[str, ...]:
    return tuple(problems(("fast", "both")))
