"""One contract, two implementations: MemoryState and RedisState must behave the same.

Redis runs use the real server on 127.0.0.1:6379, each test under its own key prefix,
removed afterwards. Time is an injected clock, moved by the tests instead of sleeping.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from app.state import ConnectionInfo, MemoryState, RealtimeState
from app.state.redis import RedisState
from tests.scaleout_support import REDIS_URL, free_port

START = 1_700_000_000.25


class Clock:
    """A clock the test moves by hand; shared by every state instance of one test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """Makes state instances that share one store: several handles on one Redis prefix act
    like several processes; for memory there is only ever the one instance."""

    def __init__(self, kind: str, clock: Clock) -> None:
        self.kind = kind
        self.clock = clock
        self.prefix = f"test-{uuid.uuid4().hex}"
        self._memory = MemoryState(clock=clock)
        self._redis: list[RedisState] = []

    def state(self) -> RealtimeState:
        if self.kind == "memory":
            return self._memory
        state = RedisState.from_url(REDIS_URL, prefix=self.prefix, clock=self.clock)
        self._redis.append(state)
        return state

    async def close(self) -> None:
        if self._redis:
            leftover = await self._redis[0].delete_all()
            assert leftover >= 0
            for state in self._redis:
                await state.close()


@pytest.fixture(params=["memory", "redis"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    h = Harness(request.param, Clock())
    yield h
    await h.close()


@pytest.fixture
async def state(harness: Harness) -> RealtimeState:
    return harness.state()


def conn(user: str = "u1", session: str = "s1", process: str = "p1") -> ConnectionInfo:
    connection_id = str(uuid.uuid4())
    return ConnectionInfo(connection_id, f"sid-{connection_id}", user, session, process)


async def add(state: RealtimeState, info: ConnectionInfo, per_user: int = 0, total: int = 0):
    return await state.add_connection(info, max_per_user=per_user, max_total=total)


# ---- connections ---------------------------------------------------------------------


async def test_add_counts_the_users_connections(state: RealtimeState) -> None:
    first = await add(state, conn("u1"))
    second = await add(state, conn("u1", "s2"))
    other = await add(state, conn("u2"))
    assert (first.accepted, first.refusal, first.user_connection_count) == (True, None, 1)
    assert (second.accepted, second.user_connection_count) == (True, 2)
    assert other.user_connection_count == 1
    assert await state.connection_count() == 3


async def test_per_user_limit_refuses_and_zero_means_unlimited(state: RealtimeState) -> None:
    for _ in range(2):
        assert (await add(state, conn("u1"), per_user=2)).accepted
    refused = await add(state, conn("u1"), per_user=2)
    assert (refused.accepted, refused.refusal, refused.user_connection_count) == (
        False,
        "user_limit",
        2,
    )
    assert (await add(state, conn("u2"), per_user=2)).accepted
    for _ in range(5):
        assert (await add(state, conn("u1"), per_user=0)).accepted
    assert await state.connection_count() == 8


async def test_a_connection_over_the_total_limit_is_refused_and_not_recorded(
    state: RealtimeState,
) -> None:
    assert (await add(state, conn("u1"), total=2)).accepted
    assert (await add(state, conn("u2"), total=2)).accepted
    refused = await add(state, conn("u3"), total=2)
    assert (refused.accepted, refused.refusal, refused.user_connection_count) == (
        False,
        "total_limit",
        0,
    )
    assert await state.connection_count() == 2
    assert await state.online_users(["u3"]) == set()


async def test_remove_returns_the_connection_and_what_is_left(state: RealtimeState) -> None:
    a, b = conn("u1", "s1"), conn("u1", "s2")
    await add(state, a)
    await add(state, b)
    info, remaining = await state.remove_connection(a.connection_id)
    assert info == a and remaining == 1
    info, remaining = await state.remove_connection(b.connection_id)
    assert info == b and remaining == 0
    assert await state.remove_connection(b.connection_id) == (None, 0)
    assert await state.remove_connection("never-added") == (None, 0)
    assert await state.connection_count() == 0
    assert await state.user_connections("u1") == []
    assert await state.session_connections("s1") == []


async def test_lookups_by_user_session_and_online(state: RealtimeState) -> None:
    a, b, c = conn("u1", "s1"), conn("u1", "s2"), conn("u2", "s3")
    for info in (a, b, c):
        await add(state, info)
    assert sorted(await state.user_connections("u1"), key=str) == sorted([a, b], key=str)
    assert await state.session_connections("s2") == [b]
    assert await state.user_connections("nobody") == []
    assert await state.online_users(["u1", "u2", "u3"]) == {"u1", "u2"}
    assert await state.online_users([]) == set()
    await state.remove_connection(c.connection_id)
    assert await state.online_users(["u1", "u2"]) == {"u1"}


async def test_stale_connections_follow_heartbeats(harness: Harness) -> None:
    state = harness.state()
    old, fresh = conn("u1"), conn("u2")
    await add(state, old)
    harness.clock.advance(100)
    await add(state, fresh)
    assert await state.stale_connections(100) == []  # exactly 100 s old is not older
    harness.clock.advance(0.5)
    assert await state.stale_connections(100) == [old]
    await state.heartbeat([old.connection_id])
    assert await state.stale_connections(100) == []
    harness.clock.advance(101)
    assert sorted(await state.stale_connections(100), key=str) == sorted([old, fresh], key=str)
    await state.heartbeat([])  # nothing to do, no error


async def test_heartbeat_never_recreates_a_removed_connection(harness: Harness) -> None:
    state = harness.state()
    gone = conn("u1")
    await add(state, gone)
    await state.remove_connection(gone.connection_id)
    await state.heartbeat([gone.connection_id, "never-added"])
    assert await state.connection_count() == 0
    harness.clock.advance(1000)
    assert await state.stale_connections(1) == []


async def test_restore_puts_back_lost_connections_and_refreshes_the_rest(
    harness: Harness,
) -> None:
    state = harness.state()
    kept, lost, closed = conn("u1", "s1"), conn("u2", "s2"), conn("u3", "s3")
    for c in (kept, lost, closed):
        await add(state, c)
    # What a Redis restart does to a live socket's registration (and a close does too).
    await state.remove_connection(lost.connection_id)
    await state.remove_connection(closed.connection_id)
    harness.clock.advance(100)
    restored = await state.restore_connections([kept, lost])
    assert restored == [lost]
    assert await state.online_users(["u1", "u2", "u3"]) == {"u1", "u2"}
    assert await state.user_connections("u2") == [lost]
    assert await state.session_connections(lost.session_id) == [lost]
    assert await state.connection_count() == 2
    assert await state.stale_connections(50) == []  # both refreshed just now
    assert await state.restore_connections([kept, lost]) == []
    info, remaining = await state.remove_connection(lost.connection_id)
    assert info == lost and remaining == 0


# ---- typing ---------------------------------------------------------------------------


async def test_typing_start_and_stop_report_only_real_changes(state: RealtimeState) -> None:
    assert await state.start_typing("r1", "u1") is True
    assert await state.start_typing("r1", "u1") is False  # a refresh
    assert await state.start_typing("r2", "u1") is True
    assert await state.stop_typing("r1", "u1") is True
    assert await state.stop_typing("r1", "u1") is False
    assert await state.start_typing("r1", "u1") is True


async def test_stop_typing_everywhere_ends_each_of_the_users_rooms_once(
    state: RealtimeState,
) -> None:
    await state.start_typing("r1", "u1")
    await state.start_typing("r2", "u1")
    await state.start_typing("r1", "u2")
    assert sorted(await state.stop_typing_everywhere("u1")) == ["r1", "r2"]
    assert await state.stop_typing_everywhere("u1") == []
    assert await state.stop_typing("r1", "u2") is True


async def test_typing_expires_unless_refreshed(harness: Harness) -> None:
    state = harness.state()
    await state.start_typing("r1", "u1")
    await state.start_typing("r1", "u2")
    harness.clock.advance(3)
    await state.start_typing("r1", "u2")  # refreshed: its 5 s start again
    harness.clock.advance(2)
    assert await state.expire_typing(5) == []  # exactly 5 s is not older
    harness.clock.advance(0.1)
    assert await state.expire_typing(5) == [("r1", "u1")]
    assert await state.expire_typing(5) == []
    assert await state.start_typing("r1", "u1") is True  # expired, so typing afresh
    harness.clock.advance(10)
    assert sorted(await state.expire_typing(5)) == [("r1", "u1"), ("r1", "u2")]
    assert await state.stop_typing_everywhere("u2") == []


async def test_concurrent_sweepers_announce_each_expiry_once(harness: Harness) -> None:
    writer = harness.state()
    typists = [(f"room-{i % 7}", f"user-{i}") for i in range(60)]
    for room_id, user_id in typists:
        await writer.start_typing(room_id, user_id)
    harness.clock.advance(6)
    sweepers = [harness.state() for _ in range(4)]
    results = await asyncio.gather(*(s.expire_typing(5) for s in sweepers for _ in range(3)))
    announced = [pair for result in results for pair in result]
    assert sorted(announced) == sorted(typists)  # each once, none lost


# ---- rate limits ---------------------------------------------------------------------


async def test_rate_window_slides(harness: Harness) -> None:
    state = harness.state()
    for _ in range(3):
        assert (await state.acquire_rate("k", 3, 60)).allowed
        harness.clock.advance(10)
    refused = await state.acquire_rate("k", 3, 60)  # hits at 0, 10, 20; now 30
    assert not refused.allowed and refused.token is None
    assert refused.retry_after == pytest.approx(30)
    harness.clock.advance(30)  # now 60: the hit at 0 is exactly a window old, so gone
    assert (await state.acquire_rate("k", 3, 60)).allowed
    refused = await state.acquire_rate("k", 3, 60)
    assert not refused.allowed and refused.retry_after == pytest.approx(10)
    assert (await state.acquire_rate("other", 3, 60)).allowed  # keys are independent


async def test_rate_limit_zero_is_off(state: RealtimeState) -> None:
    for _ in range(100):
        decision = await state.acquire_rate("k", 0, 60)
        assert decision.allowed


async def test_released_slot_is_free_again(harness: Harness) -> None:
    state = harness.state()
    first = await state.acquire_rate("k", 2, 60)
    second = await state.acquire_rate("k", 2, 60)
    assert first.token and second.token and first.token != second.token
    assert not (await state.acquire_rate("k", 2, 60)).allowed
    await state.release_rate("k", second.token)
    await state.release_rate("k", "unknown-token")  # no error, no effect
    third = await state.acquire_rate("k", 2, 60)
    assert third.allowed
    assert not (await state.acquire_rate("k", 2, 60)).allowed
    await state.release_rate("k", first.token)
    harness.clock.advance(1)
    assert (await state.acquire_rate("k", 2, 60)).allowed


async def test_retry_after_is_positive_and_within_the_window(harness: Harness) -> None:
    state = harness.state()
    assert (await state.acquire_rate("k", 1, 60)).allowed
    harness.clock.advance(59.9999)
    refused = await state.acquire_rate("k", 1, 60)
    assert 0 < refused.retry_after <= 60


# ---- activity ------------------------------------------------------------------------


async def test_recently_active_means_active_within_the_window_inclusive(harness: Harness) -> None:
    state = harness.state()
    await state.touch_activity("u1")
    harness.clock.advance(200)
    await state.touch_activity("u2")
    harness.clock.advance(100)  # u1 exactly 300 s ago: still within
    assert await state.recently_active(["u1", "u2", "u3"], 300) == {"u1", "u2"}
    harness.clock.advance(0.5)
    assert await state.recently_active(["u1", "u2", "u3"], 300) == {"u2"}
    assert await state.recently_active([], 300) == set()


# ---- several processes at once --------------------------------------------------------


async def _together(calls: list[Callable[[], Awaitable[object]]]) -> list[object]:
    return list(await asyncio.gather(*(call() for call in calls)))


async def test_connection_limits_hold_under_concurrency(harness: Harness) -> None:
    handles = [harness.state() for _ in range(5)]
    infos = [conn("u1", f"s{i}") for i in range(30)]
    results = await _together(
        [
            lambda s=handles[i % 5], info=info: add(s, info, per_user=4, total=0)
            for i, info in enumerate(infos)
        ]
    )
    accepted = [r for r in results if r.accepted]  # type: ignore[attr-defined]
    assert len(accepted) == 4
    assert sorted(r.user_connection_count for r in accepted) == [1, 2, 3, 4]  # type: ignore[attr-defined]
    others = [conn(f"x{i}") for i in range(30)]
    results = await _together(
        [
            lambda s=handles[i % 5], info=info: add(s, info, per_user=0, total=10)
            for i, info in enumerate(others)
        ]
    )
    assert sum(r.accepted for r in results) == 6  # type: ignore[attr-defined]
    assert await handles[0].connection_count() == 10


async def test_rate_limit_holds_under_concurrency(harness: Harness) -> None:
    handles = [harness.state() for _ in range(5)]
    results = await _together(
        [lambda s=handles[i % 5]: s.acquire_rate("messages:u1", 7, 60) for i in range(40)]
    )
    assert sum(r.allowed for r in results) == 7  # type: ignore[attr-defined]


async def test_only_one_remover_sees_the_last_connection_go(harness: Harness) -> None:
    handles = [harness.state() for _ in range(4)]
    infos = [conn("u1", f"s{i}") for i in range(3)]
    for info in infos:
        await add(handles[0], info)
    results = await _together(
        [
            lambda s=handles[i % 4], info=info: s.remove_connection(info.connection_id)
            for i, info in enumerate(infos * 3)  # every connection removed three times
        ]
    )
    found = [r for r in results if r[0] is not None]  # type: ignore[index]
    assert len(found) == 3
    assert sorted(r[1] for r in found) == [0, 1, 2]  # type: ignore[index]


# ---- Redis specifics -----------------------------------------------------------------


async def test_redis_keys_stay_under_the_prefix() -> None:
    clock = Clock()
    prefix = f"test-{uuid.uuid4().hex}"
    state = RedisState.from_url(REDIS_URL, prefix=prefix, clock=clock)
    marker = uuid.uuid4().hex
    info = ConnectionInfo(f"c-{marker}", f"sid-{marker}", f"u-{marker}", f"s-{marker}", "p")
    try:
        await state.add_connection(info, max_per_user=5, max_total=0)
        await state.start_typing(f"r-{marker}", info.user_id)
        await state.acquire_rate(f"messages:{marker}", 5, 60)
        await state.touch_activity(info.user_id)
        keys = [key async for key in state.redis.scan_iter(match=f"*{marker}*")]
        assert keys and all(key.startswith(f"{prefix}:") for key in keys)
        shared = [key async for key in state.redis.scan_iter(match=f"{prefix}:*")]
        assert len(shared) >= len(keys) + 3  # heartbeats, typing, activity
        assert await state.delete_all() == len(shared)
        assert [key async for key in state.redis.scan_iter(match=f"{prefix}:*")] == []
    finally:
        await state.close()


async def test_redis_rate_window_expires_by_itself() -> None:
    state = RedisState.from_url(REDIS_URL, prefix=f"test-{uuid.uuid4().hex}")
    try:
        assert (await state.acquire_rate("k", 5, 60)).allowed
        ttl = await state.redis.pttl(f"{state._p}:rate:k")
        assert 60_000 <= ttl <= 61_000
    finally:
        await state.delete_all()
        await state.close()


async def test_ping_is_true_for_a_live_redis_and_false_for_an_unreachable_one() -> None:
    state = RedisState.from_url(REDIS_URL, prefix=f"test-{uuid.uuid4().hex}")
    dead = RedisState.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix="unused")
    try:
        assert await state.ping() is True
        assert await dead.ping() is False
    finally:
        await state.close()
        await dead.close()
