"""Room-sharded fan-out between web processes (Redis 7 sharded pub/sub).

python-socketio's AsyncRedisManager publishes every emit on one channel, so every web
process receives and decodes every message of every room: adding processes adds work to all
of them. This mixin (between `PubSubRecovery` and python-socketio's AsyncRedisManager) gives
each room a shard channel, `<channel>:shard:<n>` with n = crc32(room) % shards:

- an emit to a room (`room:…`, `user:…`) is SPUBLISHed on its shard channel; everything else
  (emits to one sid on another process, broadcasts, python-socketio's disconnect, enter/leave
  room and callback messages, the arq worker's emits) stays on the shared channel every
  process reads;
- a process SSUBSCRIBEs to exactly the shards of the rooms it has local sockets in, and
  SUNSUBSCRIBEs when the last local socket of a shard's rooms leaves;
- a socket of this process enters a room only after Redis confirmed the shard subscription
  (bounded wait), so a joining socket misses nothing published after it joined, and its
  database replay (read after the join) covers everything before;
- a socket of another process entered by this one (python-socketio's cross-process
  enter_room, e.g. a member added to a room) is subscribed by its process when that process
  reads the request; until then this process sends that room's emits on the shared channel
  (`JOIN_GRACE`), which the other process reads in order with the request;
- an emit to a sid of this process is not published at all (no other process has it);
- shard messages start with the publisher's host id, so a process skips its own without
  decoding them;
- each process also subscribes to its own inbox channel, `<channel>:inbox:<host id>`: the
  arq worker's replay to one socket (its missed messages and SyncComplete) arrives there as
  one message, read by that process alone and written to the socket in one step, instead of
  an emit per event on the shared channel that every process decodes.

On one Redis server a process's subscriptions share one connection, so the shared channel
and the shard channels arrive in the order Redis executed the publishes (per-room order, and
enter/leave before the emits that follow them). `CAMPFIRE_PUBSUB_SHARDS=0` keeps
python-socketio's single channel. Relies on AsyncRedisManager._publish, ._listen,
._redis_connect, .redis, .channel, .host_id, AsyncPubSubManager.enter_room,
._handle_enter_room, and redis-py's asyncio PubSub.execute_command / .listen (contract.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

log = logging.getLogger(__name__)

# Rooms whose emits go on shard channels: Campfire's chat rooms and users. A sid (the room
# python-socketio gives each socket) and None (everyone) stay on the shared channel.
SHARDED_PREFIXES = ("room:", "user:")
# How long this process sends a room's emits on the shared channel after asking another
# process to enter one of its sockets into that room (see the module docstring).
JOIN_GRACE = 5.0
# How long a socket's join waits for Redis to confirm a new shard subscription before it
# goes ahead anyway (Redis down: the resubscribe and the fan-out audit take over).
CONFIRM_TIMEOUT = 2.0
HOST_ID_LENGTH = 32  # uuid4().hex


def is_sharded(room: Any) -> bool:
    return isinstance(room, str) and room.startswith(SHARDED_PREFIXES)


def shard_index(room: str, shards: int) -> int:
    """The shard of `room`: the same in every process (crc32, not Python's salted hash)."""
    return zlib.crc32(room.encode()) % shards


def shard_channel(channel: str, index: int) -> str:
    return f"{channel}:shard:{index}"


def inbox_channel(channel: str, host_id: str) -> str:
    """The channel only the process with `host_id` reads: events for one of its sockets."""
    return f"{channel}:inbox:{host_id}"


def encode_batch(sid: str, events: Sequence[tuple[str, Any]], namespace: str = "/") -> bytes:
    """An inbox message: (event, data) pairs for one socket, delivered in order."""
    return orjson.dumps({"sid": sid, "namespace": namespace, "events": events})


def decode_batch(data: Any) -> tuple[str, str, list[tuple[str, Any]]]:
    """`encode_batch`'s message; ValueError when it is not one."""
    try:
        batch = orjson.loads(data)
        events = [(str(event), args) for event, args in batch["events"]]
        return str(batch["sid"]), str(batch.get("namespace") or "/"), events
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an inbox message: {exc!r}") from exc


class ShardedPubSub:
    """Mixin for python-socketio's AsyncRedisManager (after PubSubRecovery, before it)."""

    shards: int = 32
    on_pubsub_received: Callable[[str], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (python-socketio initializes a manager at the first connection; emits may come first.)
        # shard -> rooms with local sockets; the shards subscribed (or being subscribed);
        # confirmations awaited; rooms recently entered on another process (-> deadline).
        self._shard_rooms: dict[int, set[str]] = {}
        self._joins: dict[int, int] = {}  # shard -> local joins waiting for it (kept meanwhile)
        self._subscribed: set[int] = set()
        self._confirming: dict[int, asyncio.Future[None]] = {}
        self._joining: dict[str, float] = {}
        self._listener: Any = None  # the PubSub being read, once subscribed
        # SSUBSCRIBE / SUNSUBSCRIBE go out in the order they were decided.
        self._commands = asyncio.Lock()
        self._host_prefix = self.host_id.encode()  # type: ignore[attr-defined]

    # ---- which channel --------------------------------------------------------------

    def _sharding(self) -> bool:
        return self.shards > 0

    def _shard_of(self, room: str) -> int:
        return shard_index(room, self.shards)

    def channel_of(self, room: Any) -> str:
        """The channel an emit to `room` is published on."""
        channel: str = self.channel  # type: ignore[attr-defined]
        if not self._sharding() or not is_sharded(room) or self._in_grace(room):
            return channel
        return shard_channel(channel, self._shard_of(room))

    def _in_grace(self, room: str) -> bool:
        deadline = self._joining.get(room)
        if deadline is None:
            return False
        if asyncio.get_running_loop().time() < deadline:
            return True
        del self._joining[room]
        return False

    async def _publish(self, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("method") != "emit":
            return await super()._publish(data)  # type: ignore[misc]
        room, namespace = data.get("room"), data.get("namespace") or "/"
        if isinstance(room, str) and self.is_sid_room(namespace, room):  # type: ignore[attr-defined]
            return 1  # a socket of this process: delivered already, nobody else has it
        channel = self.channel_of(room)
        if channel == self.channel:  # type: ignore[attr-defined]
            return await super()._publish(data)  # type: ignore[misc]
        return await self.publish_to(channel, self._host_prefix + orjson.dumps(data), shard=True)

    @property
    def inbox_channel(self) -> str:
        return inbox_channel(self.channel, self.host_id)  # type: ignore[attr-defined]

    async def publish_to(self, channel: str, payload: bytes, *, shard: bool) -> int | None:
        """`payload` on `channel` (SPUBLISH when `shard`): its receivers, or None when Redis
        could not be reached twice (as python-socketio's own publish: one retry)."""
        for attempt in (1, 2):
            try:
                if not self.connected:  # type: ignore[has-type]
                    self._redis_connect()  # type: ignore[attr-defined]
                redis = self.redis  # type: ignore[attr-defined]
                if shard:
                    return await redis.spublish(channel, payload)
                return await redis.publish(channel, payload)
            except Exception as exc:
                self.connected = False
                if attempt == 2:
                    log.warning("cannot publish to %s (%r); giving up", channel, exc)
        return None

    # ---- local sockets entering and leaving rooms -------------------------------------

    async def enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> Any:
        if not (self._sharding() and is_sharded(room)):
            return await super().enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        if not self._is_local(sid, namespace):  # another process's socket: see JOIN_GRACE
            self._joining[room] = asyncio.get_running_loop().time() + JOIN_GRACE
            if len(self._joining) > 1_000:
                self._forget_old_joins()
            return await super().enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        index = self._shard_of(room)
        self._joins[index] = self._joins.get(index, 0) + 1  # the shard is kept meanwhile
        try:
            await self._ensure_shard(index, wait=True)
            return await super().enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        finally:
            self._joined(index)

    async def _handle_enter_room(self, message: dict[str, Any]) -> None:
        # Another process asked: subscribe before the socket enters (no wait: this runs in
        # the reader, which is what reads the confirmation).
        room, sid = message.get("room"), message.get("sid")
        namespace = message.get("namespace") or "/"
        if not (self._sharding() and is_sharded(room) and self._is_local(sid, namespace)):
            return await super()._handle_enter_room(message)  # type: ignore[misc]
        index = self._shard_of(room)
        self._joins[index] = self._joins.get(index, 0) + 1
        try:
            await self._ensure_shard(index, wait=False)
            return await super()._handle_enter_room(message)  # type: ignore[misc]
        finally:
            self._joined(index)

    def _is_local(self, sid: Any, namespace: str) -> bool:
        return bool(
            self.is_connected(sid, namespace)  # type: ignore[attr-defined]
            or self.is_pre_connected(sid, namespace)  # type: ignore[attr-defined]
        )

    def _joined(self, index: int) -> None:
        """After a join: a shard that got no room after all (the subscription cap, a socket
        gone meanwhile) is given up again."""
        left = self._joins.pop(index) - 1
        if left:
            self._joins[index] = left
        else:
            self._release_soon(index)

    def room_occupied(self, namespace: str, room: Any) -> None:
        if self._sharding() and is_sharded(room):
            self._shard_rooms.setdefault(self._shard_of(room), set()).add(room)

    def room_vacated(self, namespace: str, room: Any) -> None:
        if not (self._sharding() and is_sharded(room)):
            return
        index = self._shard_of(room)
        rooms = self._shard_rooms.get(index)
        if rooms is None:
            return
        rooms.discard(room)
        if not rooms:
            del self._shard_rooms[index]
            self._release_soon(index)

    def _release_soon(self, index: int) -> None:
        if index in self._shard_rooms or index in self._joins or index not in self._subscribed:
            return
        with contextlib.suppress(RuntimeError):  # no loop: nothing is subscribed
            asyncio.get_running_loop().create_task(self._release_shard(index))

    def _forget_old_joins(self) -> None:
        now = asyncio.get_running_loop().time()
        for room in [r for r, deadline in self._joining.items() if deadline <= now]:
            del self._joining[room]

    # ---- the subscription -------------------------------------------------------------

    async def _ensure_shard(self, index: int, *, wait: bool) -> None:
        if index in self._subscribed:
            pending = self._confirming.get(index)
        else:
            self._subscribed.add(index)
            pending = self._confirming[index] = asyncio.get_running_loop().create_future()
            await self._command("SSUBSCRIBE", index)
        if wait and pending is not None and not pending.done():
            try:
                await asyncio.wait_for(asyncio.shield(pending), CONFIRM_TIMEOUT)
            except TimeoutError:
                log.warning("shard %d: no subscription confirmed in %.0f s", index, CONFIRM_TIMEOUT)

    async def _release_shard(self, index: int) -> None:
        if index in self._shard_rooms or index in self._joins or index not in self._subscribed:
            return  # a room of that shard was entered again meanwhile
        self._subscribed.discard(index)
        pending = self._confirming.pop(index, None)
        if pending is not None and not pending.done():
            pending.set_result(None)
        await self._command("SUNSUBSCRIBE", index)

    async def _command(self, command: str, index: int) -> None:
        async with self._commands:
            listener = self._listener
            if listener is None:  # (re)subscribing: it subscribes whatever is wanted then
                return
            try:
                await listener.execute_command(command, self._channel_name(index))
            except Exception as exc:  # the reader sees the lost connection and resubscribes
                log.warning("%s failed (%r); the resubscription will redo it", command, exc)

    def _channel_name(self, index: int) -> str:
        return shard_channel(self.channel, index)  # type: ignore[attr-defined]

    def shard_channels(self) -> list[str]:
        """The shard channels this process is subscribed to (for tests and diagnostics)."""
        return sorted(self._channel_name(i) for i in self._subscribed)

    async def _open_subscription(self) -> Any:
        """A fresh connection subscribed to the shared channel and every shard in use."""
        self._listener = None
        self._redis_connect()  # type: ignore[attr-defined]
        # Subscribe messages are needed (redis-py would drop `smessage` with them ignored).
        pubsub = self.redis.pubsub()  # type: ignore[attr-defined]
        await pubsub.subscribe(self.channel, self.inbox_channel)  # type: ignore[attr-defined]
        sent: set[int] = set()
        while sent != self._subscribed:  # shards may come and go while this awaits
            for index in self._subscribed - sent:
                await pubsub.execute_command("SSUBSCRIBE", self._channel_name(index))
                sent.add(index)
            for index in sent - self._subscribed:
                await pubsub.execute_command("SUNSUBSCRIBE", self._channel_name(index))
                sent.discard(index)
        # No await since the last check: a change from now on is sent by _command.
        self._listener = pubsub
        return pubsub

    def _subscription_lost(self) -> None:
        self._listener = None

    def _confirmed(self, channel: bytes) -> None:
        prefix = f"{self.channel}:shard:".encode()  # type: ignore[attr-defined]
        if channel.startswith(prefix):
            with contextlib.suppress(ValueError):
                pending = self._confirming.pop(int(channel[len(prefix) :]), None)
                if pending is not None and not pending.done():
                    pending.set_result(None)

    async def _listen(self) -> AsyncIterator[Any]:
        shared = self.channel.encode()  # type: ignore[attr-defined]
        inbox = self.inbox_channel.encode()
        host = self._host_prefix
        count = self.on_pubsub_received
        async for message in self._redis_listen_with_retries():  # type: ignore[attr-defined]
            kind = message.get("type")
            if kind == "smessage":
                data = message.get("data")
                if not isinstance(data, bytes) or data.startswith(host):
                    continue  # this process's own: delivered before it was published
                if count is not None:
                    count("shard")
                try:
                    yield orjson.loads(memoryview(data)[HOST_ID_LENGTH:])
                except orjson.JSONDecodeError:
                    log.warning("undecodable message on %r", message.get("channel"))
            elif kind == "message" and message.get("channel") == shared:
                if count is not None:
                    count("shared")
                yield message.get("data")
            elif kind == "message" and message.get("channel") == inbox:
                if count is not None:
                    count("inbox")
                await self._deliver_batch(message.get("data"))
            elif kind == "ssubscribe":
                self._confirmed(message.get("channel") or b"")

    async def _deliver_batch(self, data: Any) -> None:
        """An inbox message to its socket: in one step where the socket writes directly
        (FanoutManager.write_events), else event by event as a remote emit is delivered (a
        socket gone meanwhile gets nothing: its client recovers by cursor when it is back)."""
        try:
            sid, namespace, events = decode_batch(data)
        except ValueError:
            log.warning("undecodable message on this process's inbox")
            return
        write = getattr(self, "write_events", None)
        if write is not None and write(sid, events, namespace):
            return
        for event, args in events:
            await self._handle_emit(  # type: ignore[attr-defined]
                {"event": event, "data": [args], "namespace": namespace, "room": sid}
            )
