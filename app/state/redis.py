"""Real-time state in Redis, shared by every web process and the arq worker.

Same semantics as `MemoryState` (both pass tests/test_state_contract.py). Every key lives
under `{prefix}:rt:`, so several deployments or test runs can share one Redis server.
Operations that read and then write (connection limits, rate windows, typing expiry) are
Lua scripts, which Redis runs atomically: two processes can never both take the last slot,
and two sweepers can never both announce the same typing expiry.

Times come from the injected clock (Unix seconds) and are passed into the scripts, so that
tests can move time without sleeping. Processes sharing a Redis must share a clock (NTP).

The key layout and the Lua scripts are in `redis_scripts.py`.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from app.state.base import AddConnectionResult, ConnectionInfo, RateDecision
from app.state.redis_scripts import (
    ACQUIRE_RATE,
    ADD_CONNECTION,
    EXPIRE_TYPING,
    REMOVE_CONNECTION,
    RESTORE_CONNECTIONS,
    SEP,
    SET_VISIBLE,
    START_TYPING,
    STOP_TYPING,
    STOP_TYPING_EVERYWHERE,
)

# Connections per script call: keeps each call short, so that Redis serves others between.
RESTORE_BATCH = 500


class RedisState:
    def __init__(
        self, redis: Redis, *, prefix: str = "campfire", clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._p = f"{prefix}:rt"
        self._heartbeats = f"{self._p}:heartbeats"
        self._typing = f"{self._p}:typing"
        self._activity = f"{self._p}:activity"
        self._add_connection = redis.register_script(ADD_CONNECTION)
        self._remove_connection = redis.register_script(REMOVE_CONNECTION)
        self._restore_connections = redis.register_script(RESTORE_CONNECTIONS)
        self._start_typing = redis.register_script(START_TYPING)
        self._stop_typing = redis.register_script(STOP_TYPING)
        self._stop_typing_everywhere = redis.register_script(STOP_TYPING_EVERYWHERE)
        self._expire_typing = redis.register_script(EXPIRE_TYPING)
        self._acquire_rate = redis.register_script(ACQUIRE_RATE)
        self._set_visible = redis.register_script(SET_VISIBLE)
        self._counters = f"{self._p}:counters"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "campfire",
        clock: Callable[[], float] = time.time,
        max_connections: int = 64,
    ) -> RedisState:
        # A bounded pool that makes a burst wait for a free connection, rather than open
        # one Redis connection per concurrent request; health checks keep idle connections
        # usable after a Redis restart.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=10,
            decode_responses=True,
            health_check_interval=30,
            socket_connect_timeout=5,
            socket_keepalive=True,
        )
        return cls(Redis.from_pool(pool), prefix=prefix, clock=clock)

    @property
    def redis(self) -> Redis:
        return self._redis

    # ---- connections --------------------------------------------------------------

    async def add_connection(
        self, info: ConnectionInfo, *, max_per_user: int, max_total: int
    ) -> AddConnectionResult:
        accepted, refusal, count = await self._add_connection(
            keys=[self._heartbeats],
            args=[
                self._p,
                info.connection_id,
                info.sid,
                info.user_id,
                info.session_id,
                info.process_id,
                repr(self._clock()),
                max_per_user,
                max_total,
            ],
        )
        if accepted:
            return AddConnectionResult(True, None, int(count))
        return AddConnectionResult(False, refusal, int(count))

    async def remove_connection(self, connection_id: str) -> tuple[ConnectionInfo | None, int]:
        found = await self._remove_connection(
            keys=[self._heartbeats], args=[self._p, connection_id]
        )
        if not found:
            return None, 0
        sid, user_id, session_id, process_id, remaining = found
        return ConnectionInfo(connection_id, sid, user_id, session_id, process_id), int(remaining)

    async def heartbeat(self, connection_ids: Iterable[str]) -> None:
        now = self._clock()
        mapping = {connection_id: now for connection_id in connection_ids}
        if mapping:
            # XX: only refresh connections that still exist (a removed one stays removed).
            await self._redis.zadd(self._heartbeats, mapping, xx=True)  # type: ignore[arg-type]

    async def restore_connections(
        self, infos: Iterable[ConnectionInfo], hidden: Collection[str] = ()
    ) -> list[ConnectionInfo]:
        by_id = {info.connection_id: info for info in infos}
        items = list(by_id.values())
        restored: list[ConnectionInfo] = []
        for start in range(0, len(items), RESTORE_BATCH):
            args: list[Any] = [self._p, repr(self._clock())]
            for info in items[start : start + RESTORE_BATCH]:
                args += [info.connection_id, info.sid, info.user_id, info.session_id]
                args += [info.process_id, 0 if info.connection_id in hidden else 1]
            ids = await self._restore_connections(keys=[self._heartbeats], args=args)
            restored += [by_id[i] for i in ids]
        return restored

    async def user_connections(self, user_id: str) -> list[ConnectionInfo]:
        ids = await self._redis.smembers(f"{self._p}:user:{user_id}")  # type: ignore[misc]
        return await self._connections(ids)

    async def session_connections(self, session_id: str) -> list[ConnectionInfo]:
        ids = await self._redis.smembers(f"{self._p}:session:{session_id}")  # type: ignore[misc]
        return await self._connections(ids)

    async def connection_count(self) -> int:
        return int(await self._redis.zcard(self._heartbeats))

    async def online_users(self, user_ids: Iterable[str]) -> set[str]:
        users = list(dict.fromkeys(user_ids))
        if not users:
            return set()
        # Redis deletes a set when its last member goes, so existence means online.
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in users:
                pipe.exists(f"{self._p}:user:{user_id}")
            found = await pipe.execute()
        return {user_id for user_id, exists in zip(users, found, strict=True) if exists}

    async def stale_connections(self, older_than: float) -> list[ConnectionInfo]:
        cutoff = self._clock() - older_than
        ids = await self._redis.zrangebyscore(self._heartbeats, "-inf", f"({cutoff!r}")
        return await self._connections(ids)

    async def _connections(self, ids: Iterable[str]) -> list[ConnectionInfo]:
        ids = list(ids)
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for connection_id in ids:
                pipe.hmget(
                    f"{self._p}:conn:{connection_id}", "sid", "user_id", "session_id", "process_id"
                )
            rows: list[list[Any]] = await pipe.execute()
        # A connection removed between the two reads is simply not listed.
        return [
            ConnectionInfo(connection_id, *row)
            for connection_id, row in zip(ids, rows, strict=True)
            if row[0] is not None
        ]

    # ---- typing -------------------------------------------------------------------

    async def start_typing(self, room_id: str, user_id: str) -> bool:
        fresh = await self._start_typing(
            keys=[self._typing], args=[self._p, room_id, user_id, repr(self._clock())]
        )
        return bool(fresh)

    async def stop_typing(self, room_id: str, user_id: str) -> bool:
        return bool(await self._stop_typing(keys=[self._typing], args=[self._p, room_id, user_id]))

    async def stop_typing_everywhere(self, user_id: str) -> list[str]:
        return list(
            await self._stop_typing_everywhere(keys=[self._typing], args=[self._p, user_id])
        )

    async def expire_typing(self, older_than: float) -> list[tuple[str, str]]:
        cutoff = self._clock() - older_than
        expired = await self._expire_typing(keys=[self._typing], args=[self._p, repr(cutoff)])
        pairs = []
        for member in expired:
            room_id, _, user_id = member.partition(SEP)
            pairs.append((room_id, user_id))
        return pairs

    # ---- rate limits --------------------------------------------------------------

    async def acquire_rate(self, key: str, limit: int, window: float) -> RateDecision:
        if limit <= 0:
            return RateDecision(True)
        now = self._clock()
        token = uuid.uuid4().hex
        result = await self._acquire_rate(
            keys=[f"{self._p}:rate:{key}"],
            args=[repr(now), repr(now - window), math.ceil(window * 1000) + 1000, limit, token],
        )
        if int(result[0]) == 1:
            return RateDecision(True, token=token)
        oldest = float(result[1])
        return RateDecision(False, retry_after=max(oldest + window - now, 0.001))

    async def release_rate(self, key: str, token: str) -> None:
        await self._redis.zrem(f"{self._p}:rate:{key}", token)

    # ---- activity -----------------------------------------------------------------

    async def touch_activity(self, user_id: str) -> None:
        await self._redis.zadd(self._activity, {user_id: self._clock()})

    async def recently_active(self, user_ids: Iterable[str], within: float) -> set[str]:
        users = list(dict.fromkeys(user_ids))
        if not users:
            return set()
        cutoff = self._clock() - within
        scores = await self._redis.zmscore(self._activity, users)
        return {
            user_id
            for user_id, seen in zip(users, scores, strict=True)
            if seen is not None and seen >= cutoff
        }

    # ---- visibility and counters --------------------------------------------------

    async def set_visible(self, connection_id: str, visible: bool) -> bool:
        done = await self._set_visible(keys=[], args=[self._p, connection_id, int(visible)])
        return bool(done)

    async def visible_users(self, user_ids: Iterable[str]) -> set[str]:
        users = list(dict.fromkeys(user_ids))
        if not users:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in users:
                pipe.exists(f"{self._p}:visible:{user_id}")
            found = await pipe.execute()
        return {user_id for user_id, exists in zip(users, found, strict=True) if exists}

    async def add_counter(self, name: str, amount: float = 1.0) -> None:
        await self._redis.hincrbyfloat(self._counters, name, amount)  # type: ignore[misc]

    async def counters(self) -> dict[str, float]:
        values = await self._redis.hgetall(self._counters)  # type: ignore[misc]
        return {name: float(value) for name, value in values.items()}

    # ---- lifecycle ----------------------------------------------------------------

    async def ping(self) -> bool:
        """For /healthz: does Redis answer?"""
        try:
            return bool(await self._redis.ping())  # type: ignore[misc]
        except Exception:
            return False

    async def delete_all(self) -> int:
        """Remove every key of this prefix (tests and `campfire`-level resets); returns how many."""
        removed = 0
        async for key in self._redis.scan_iter(match=f"{self._p}:*", count=500):
            removed += await self._redis.delete(key)
        return removed

    async def close(self) -> None:
        await self._redis.aclose()
