"""Telling "a backing service is down" apart from a bug, and answering it the same way everywhere.

While Redis or PostgreSQL is restarting, a handshake, an event or an HTTP request fails with a
connection error from deep inside a driver. That is not the client's fault and not a bug of
ours: the answer is `server_overloaded` with `retry_after` (HTTP 503 with `Retry-After`), which
every client already handles by retrying later, instead of `internal_error` (or a 500, or a
handshake that hangs until the client gives up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import asyncpg
import redis.exceptions
import sqlalchemy.exc

from app.errors import CampfireError, ErrorCode

log = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds a client should wait before retrying: about how long a restart of Redis or
# PostgreSQL takes; short enough that an offline queue drains soon after.
OUTAGE_RETRY_AFTER = 2.0
# A handshake or event whose dependencies have not answered within this is refused, rather
# than left hanging for a frozen server's TCP timeout.
DEPENDENCY_TIMEOUT = 5.0

_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says a backing service could not be reached."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, _OUTAGE_TYPES) and not isinstance(current, CampfireError):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def unavailable(what: str = "a backing service") -> CampfireError:
    return CampfireError(
        ErrorCode.server_overloaded,
        f"{what} is unavailable for a moment; retry shortly",
        retry_after=OUTAGE_RETRY_AFTER,
    )


class _LogLimiter:
    """At most one full log line per key and interval; the rest are counted and summarised.

    During an outage every request fails the same way: a traceback each would write
    megabytes of identical lines (and a flood of bad frames likewise)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}

    def allow(self, key: str) -> tuple[bool, int]:
        """(log this one?, how many were suppressed since the last one logged)."""
        now = time.monotonic()
        last, suppressed = self._last.get(key, (0.0, 0))
        if now - last >= self.interval:
            if len(self._last) > 1000:  # bounded: keys are few, but never trust that
                self._last.clear()
            self._last[key] = (now, 0)
            return True, suppressed
        self._last[key] = (last, suppressed + 1)
        return False, 0


log_limiter = _LogLimiter()


def log_limited(logger: logging.Logger, level: int, key: str, message: str, *args: object) -> None:
    allowed, suppressed = log_limiter.allow(key)
    if not allowed:
        return
    if suppressed:
        message += " (%d similar lines suppressed)"
        args = (*args, suppressed)
    logger.log(level, message, *args)


async def best_effort(work: Awaitable[T], what: str, default: T) -> T:
    """Bookkeeping that must not fail the request it rides on when Redis is away (activity
    stamps, heartbeats): log it (rate-limited) and go on with `default`."""
    try:
        return await work
    except Exception as exc:
        if not is_outage(exc):
            raise
        log_limited(log, logging.WARNING, f"best-effort:{what}", "%s skipped: %r", what, exc)
        return default


@contextlib.asynccontextmanager
async def dependency_bound(what: str = "a backing service") -> AsyncIterator[None]:
    """Turn an outage (or a dependency that does not answer in time) into `unavailable`."""
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT):
            yield
    except CampfireError:
        raise
    except Exception as exc:
        if not is_outage(exc):
            raise
        log_limited(log, logging.WARNING, f"outage:{what}", "%s unavailable: %r", what, exc)
        raise unavailable(what) from exc
