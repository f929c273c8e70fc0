"""In-process state for the single-process default: plain dicts, no locking needed on one loop."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterable

from app.state.base import AddConnectionResult, ConnectionInfo, RateDecision


class MemoryState:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._connections: dict[str, ConnectionInfo] = {}
        self._heartbeats: dict[str, float] = {}
        self._by_user: defaultdict[str, set[str]] = defaultdict(set)
        self._by_session: defaultdict[str, set[str]] = defaultdict(set)
        self._typing: dict[tuple[str, str], float] = {}
        self._rates: defaultdict[str, deque[tuple[float, str]]] = defaultdict(deque)
        self._activity: dict[str, float] = {}
        self._tokens = itertools.count()
        self._visible: set[str] = set()
        self._counters: dict[str, float] = {}

    async def add_connection(
        self, info: ConnectionInfo, *, max_per_user: int, max_total: int
    ) -> AddConnectionResult:
        user_connections = self._by_user[info.user_id]
        if max_per_user and len(user_connections) >= max_per_user:
            return AddConnectionResult(False, "user_limit", len(user_connections))
        if max_total and len(self._connections) >= max_total:
            return AddConnectionResult(False, "total_limit", len(user_connections))
        self._connections[info.connection_id] = info
        self._heartbeats[info.connection_id] = self._clock()
        user_connections.add(info.connection_id)
        self._by_session[info.session_id].add(info.connection_id)
        self._visible.add(info.connection_id)
        return AddConnectionResult(True, None, len(user_connections))

    async def remove_connection(self, connection_id: str) -> tuple[ConnectionInfo | None, int]:
        info = self._connections.pop(connection_id, None)
        if info is None:
            return None, 0
        self._heartbeats.pop(connection_id, None)
        self._visible.discard(connection_id)
        _discard(self._by_session, info.session_id, connection_id)
        remaining = _discard(self._by_user, info.user_id, connection_id)
        return info, remaining

    async def heartbeat(self, connection_ids: Iterable[str]) -> None:
        now = self._clock()
        for connection_id in connection_ids:
            if connection_id in self._heartbeats:
                self._heartbeats[connection_id] = now

    async def restore_connections(
        self, infos: Iterable[ConnectionInfo], hidden: Collection[str] = ()
    ) -> list[ConnectionInfo]:
        now = self._clock()
        restored = []
        for info in infos:
            if info.connection_id not in self._connections:
                self._connections[info.connection_id] = info
                self._by_user[info.user_id].add(info.connection_id)
                self._by_session[info.session_id].add(info.connection_id)
                if info.connection_id not in hidden:
                    self._visible.add(info.connection_id)
                restored.append(info)
            self._heartbeats[info.connection_id] = now
        return restored

    async def user_connections(self, user_id: str) -> list[ConnectionInfo]:
        return [self._connections[c] for c in self._by_user.get(user_id, ())]

    async def session_connections(self, session_id: str) -> list[ConnectionInfo]:
        return [self._connections[c] for c in self._by_session.get(session_id, ())]

    async def connection_count(self) -> int:
        return len(self._connections)

    async def online_users(self, user_ids: Iterable[str]) -> set[str]:
        return {u for u in user_ids if self._by_user.get(u)}

    async def stale_connections(self, older_than: float) -> list[ConnectionInfo]:
        cutoff = self._clock() - older_than
        return [self._connections[c] for c, seen in self._heartbeats.items() if seen < cutoff]

    async def start_typing(self, room_id: str, user_id: str) -> bool:
        fresh = (room_id, user_id) not in self._typing
        self._typing[(room_id, user_id)] = self._clock()
        return fresh

    async def stop_typing(self, room_id: str, user_id: str) -> bool:
        return self._typing.pop((room_id, user_id), None) is not None

    async def stop_typing_everywhere(self, user_id: str) -> list[str]:
        keys = [key for key in self._typing if key[1] == user_id]
        for key in keys:
            del self._typing[key]
        return [room_id for room_id, _ in keys]

    async def expire_typing(self, older_than: float) -> list[tuple[str, str]]:
        cutoff = self._clock() - older_than
        expired = [key for key, started in self._typing.items() if started < cutoff]
        for key in expired:
            del self._typing[key]
        return expired

    async def acquire_rate(self, key: str, limit: int, window: float) -> RateDecision:
        if limit <= 0:
            return RateDecision(True)
        now = self._clock()
        hits = self._rates[key]
        while hits and hits[0][0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return RateDecision(False, retry_after=max(hits[0][0] + window - now, 0.001))
        token = str(next(self._tokens))
        hits.append((now, token))
        return RateDecision(True, token=token)

    async def release_rate(self, key: str, token: str) -> None:
        hits = self._rates.get(key)
        if hits:
            for hit in hits:
                if hit[1] == token:
                    hits.remove(hit)
                    break

    async def touch_activity(self, user_id: str) -> None:
        self._activity[user_id] = self._clock()

    async def recently_active(self, user_ids: Iterable[str], within: float) -> set[str]:
        cutoff = self._clock() - within
        return {u for u in user_ids if self._activity.get(u, float("-inf")) >= cutoff}

    async def set_visible(self, connection_id: str, visible: bool) -> bool:
        if connection_id not in self._connections:
            return False
        if visible:
            self._visible.add(connection_id)
        else:
            self._visible.discard(connection_id)
        return True

    async def visible_users(self, user_ids: Iterable[str]) -> set[str]:
        return {u for u in user_ids if any(c in self._visible for c in self._by_user.get(u, ()))}

    async def add_counter(self, name: str, amount: float = 1.0) -> None:
        self._counters[name] = self._counters.get(name, 0.0) + amount

    async def counters(self) -> dict[str, float]:
        return dict(self._counters)

    async def close(self) -> None:
        return None


def _discard(index: defaultdict[str, set[str]], key: str, member: str) -> int:
    members = index.get(key)
    if members is None:
        return 0
    members.discard(member)
    if not members:
        del index[key]
    return len(members)
