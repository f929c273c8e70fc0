"""Who may open a socket at all, before authentication: the per-address handshake rate, and
how many handshakes a process runs at once (the handshake queue)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import AsyncIterator, Callable

from app.config import Settings
from app.errors import CampfireError, ErrorCode
from app.metrics import Metrics
from app.outage import OUTAGE_RETRY_AFTER, is_outage
from app.state import RealtimeState

# PROTOCOL.md section 4: `retry_after` is above 0 and at most the rate window (60 s).
MAX_RETRY_AFTER = 60.0
# The shortest `retry_after` of a queue refusal, before its jitter.
MIN_QUEUE_RETRY_AFTER = 1.0
# Weight of the newest handshake in the running average of how long one holds its slot.
HOLD_SMOOTHING = 0.1


class HandshakeQueue:
    """At most `capacity` handshakes at a time; the others wait their turn, first come first
    served, at most `max_waiting` of them and each for at most `max_wait` seconds.

    Why: a handshake's work is bounded by `dependency_bound` (5 s) so that a Redis or database
    outage is refused promptly. In a reconnect storm of 10,000 sockets every handshake started
    that clock at once and then queued for the CPU, so nearly all of them ran out of time and
    were refused (and came back together). Here the clock starts only once a handshake holds a
    slot; the wait for one has bounds of its own.

    A refusal is `server_overloaded` with a `retry_after` that grows with the line ahead (how
    long it takes to drain at the recent pace) and is jittered, so that refused clients come
    back spread out rather than as the next storm.

    An outage: a slot holder whose work fails because Redis or the database is down (or does
    not answer within the bound) takes every handshake waiting at that moment down with it,
    refused at once: they would meet the same dead dependency, one round of the bound after
    another, for the whole queue.
    """

    def __init__(
        self,
        capacity: int,
        max_waiting: int,
        max_wait: float,
        metrics: Metrics,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self.capacity = capacity
        self.max_waiting = max_waiting
        self.max_wait = max_wait
        self._metrics = metrics
        self._random = random_fraction
        self._free = capacity
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._hold = 0.05  # seconds a slot is held, on average (updated as handshakes finish)
        metrics.handshakes_waiting.set_function(lambda: len(self._waiters))
        metrics.handshakes_in_flight.set_function(lambda: self.in_flight)

    @property
    def in_flight(self) -> int:
        return self.capacity - self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the block; raises `server_overloaded` when none can be had."""
        if self.capacity <= 0:
            yield
            return
        await self._acquire()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            yield
        except CampfireError as exc:
            # `dependency_bound`'s refusal for an outage: `unavailable`, caused by the driver's
            # error. (Not a refusal that merely happened while handling some error.)
            cause = exc.__cause__
            if exc.code is ErrorCode.server_overloaded and cause is not None and is_outage(cause):
                self._refuse_waiters()
            raise
        finally:
            held = loop.time() - started
            self._hold += HOLD_SMOOTHING * (held - self._hold)
            self._release()

    async def _acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        if len(self._waiters) >= self.max_waiting:
            raise self._refusal("queue_full", "too many connections are waiting to be let in")
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            async with asyncio.timeout(self.max_wait):
                await turn
        except TimeoutError:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                return  # handed a slot just as the wait ran out: use it
            raise self._refusal(
                "wait_timeout", "the server is busy letting other connections in"
            ) from None
        except asyncio.CancelledError:
            # Handed a slot, then cancelled (the connection is going away): pass it on.
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._release()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(turn)

    def _release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes straight to the next in line
                return
        self._free += 1

    def _refuse_waiters(self) -> None:
        waiting = [turn for turn in self._waiters if not turn.done()]
        self._waiters.clear()
        for turn in waiting:
            turn.set_exception(
                self._refusal(
                    "outage",
                    "the server's storage is unavailable for a moment; retry shortly",
                    base=OUTAGE_RETRY_AFTER,
                )
            )

    def _refusal(self, reason: str, message: str, base: float | None = None) -> CampfireError:
        self._metrics.handshakes_refused.labels(reason).inc()
        if base is None:
            # How long the line ahead takes to drain at the recent pace.
            base = max(MIN_QUEUE_RETRY_AFTER, len(self._waiters) / self.capacity * self._hold)
        # Between once and twice that, at random: the refused come back spread out.
        retry_after = min(MAX_RETRY_AFTER, base * (1.0 + self._random()))
        return CampfireError(
            ErrorCode.server_overloaded, message, retry_after=round(retry_after, 2)
        )


class AdmissionService:
    def __init__(self, settings: Settings, state: RealtimeState, metrics: Metrics) -> None:
        self._settings = settings
        self._state = state
        self._metrics = metrics
        self.handshakes = HandshakeQueue(
            settings.handshakes_in_flight,
            settings.handshakes_waiting,
            settings.handshake_wait_seconds,
            metrics,
        )

    def handshake_slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait for this process's turn to run a handshake (see HandshakeQueue); the bound on
        the handshake's own work starts inside it."""
        return self.handshakes.slot()

    async def admit_handshake(self, ip: str) -> None:
        """Refuse a client address past CAMPFIRE_CONNECT_RATE handshakes per window (a
        reconnect loop, or a script), with `retry_after` so a well-behaved client waits."""
        decision = await self._state.acquire_rate(
            f"connect:{ip}", self._settings.connect_rate, self._settings.rate_window_seconds
        )
        if not decision.allowed:
            self._metrics.rate_limit_hits.labels("connect").inc()
            raise CampfireError(
                ErrorCode.rate_limit_exceeded,
                "too many connection attempts; slow down",
                retry_after=decision.retry_after,
            )
