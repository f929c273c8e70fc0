"""One event-loop timer for the ping deadlines of every direct socket.

An event-loop timer per socket (uvloop's `call_later`) costs about 500 bytes and a native
timer handle for as long as the socket is idle, which is most of its life. Here a deadline is
a (sid, token) tuple in a bucket of `RESOLUTION` seconds, and one loop timer fires the earliest
bucket. A deadline cannot be cancelled: the socket keeps a token and ignores a deadline whose
token is no longer its own (pings and pong checks are always superseded, never removed). The
wheel holds sids, not sockets: a closed socket is not kept alive by its last deadline.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

# Pings go out up to this much later than the interval asks, and a missing pong is noticed up
# to this much later than pingTimeout: well inside the client's own grace (pingInterval +
# pingTimeout before it gives up).
RESOLUTION = 0.25


class Timed(Protocol):
    def timer_fired(self, token: int) -> None: ...


class TimerWheel:
    def __init__(
        self, lookup: Callable[[str], Timed | None], resolution: float = RESOLUTION
    ) -> None:
        self.resolution = resolution
        self._lookup = lookup  # sid -> its socket, None once it is gone
        self._buckets: dict[int, list[tuple[str, int]]] = {}
        self._next: int | None = None  # the tick the loop timer is set for
        self._handle: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return sum(map(len, self._buckets.values()))

    def call_later(self, delay: float, sid: str, token: int) -> None:
        """`timer_fired(token)` of the socket `sid` in `delay` seconds (rounded up to the
        resolution), if it is still there."""
        loop = asyncio.get_running_loop()
        tick = math.ceil((loop.time() + delay) / self.resolution)
        bucket = self._buckets.get(tick)
        if bucket is None:
            self._buckets[tick] = bucket = []
        bucket.append((sid, token))
        if self._next is None or tick < self._next:
            self._arm(loop, tick)

    def _arm(self, loop: asyncio.AbstractEventLoop, tick: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._next = tick
        self._handle = loop.call_at(tick * self.resolution, self._fire)

    def _fire(self) -> None:
        self._handle = self._next = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for tick in sorted(t for t in self._buckets if t * self.resolution <= now):
            for sid, token in self._buckets.pop(tick):
                owner = self._lookup(sid)
                if owner is None:
                    continue
                try:
                    owner.timer_fired(token)
                except Exception:
                    log.exception("a socket's timer failed")
        if self._buckets:
            self._arm(loop, min(self._buckets))


def wheel_of(server: Any) -> TimerWheel:
    """The Engine.IO server's wheel, made on first use (one per server and event loop)."""
    wheel: TimerWheel | None = getattr(server, "timer_wheel", None)
    if wheel is None:
        # server.sockets, looked up each time: python-engineio replaces the dict on shutdown.
        wheel = server.timer_wheel = TimerWheel(lambda sid: server.sockets.get(sid))
    return wheel
