"""The contract of the real-time state store."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    connection_id: str
    sid: str  # the Socket.IO session id, for addressing the socket from any process
    user_id: str
    session_id: str
    process_id: str


@dataclass(frozen=True, slots=True)
class AddConnectionResult:
    accepted: bool
    # Why it was refused: the user already holds the maximum, or the server is full.
    refusal: Literal["user_limit", "total_limit"] | None = None
    # The user's live connections after adding; 1 means the user just came online.
    user_connection_count: int = 0


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0  # seconds until a slot frees, when refused
    token: str | None = None  # hand back to `release_rate` to undo the hit


class RealtimeState(Protocol):
    """Shared state of live connections. Times are Unix seconds from the state's clock.

    A limit of 0 means "no limit" everywhere in this interface.
    """

    async def add_connection(
        self, info: ConnectionInfo, *, max_per_user: int, max_total: int
    ) -> AddConnectionResult:
        """Register a connection atomically with the per-user and total limits."""
        ...

    async def remove_connection(self, connection_id: str) -> tuple[ConnectionInfo | None, int]:
        """Forget a connection; return it and how many connections its user has left."""
        ...

    async def heartbeat(self, connection_ids: Iterable[str]) -> None: ...

    async def restore_connections(
        self, infos: Iterable[ConnectionInfo], hidden: Collection[str] = ()
    ) -> list[ConnectionInfo]:
        """Heartbeat connections known to be live, registering again any the store lost (a
        Redis restart empties it while the sockets stay open); return those re-registered.
        A re-registered connection is visible unless its id is in `hidden` (its page said
        `Visibility {visible: false}` last), as its process remembers it. Limits are not
        checked: these connections were admitted already."""
        ...

    async def user_connections(self, user_id: str) -> list[ConnectionInfo]: ...

    async def session_connections(self, session_id: str) -> list[ConnectionInfo]: ...

    async def connection_count(self) -> int: ...

    async def online_users(self, user_ids: Iterable[str]) -> set[str]:
        """The given users that hold at least one live connection."""
        ...

    async def stale_connections(self, older_than: float) -> list[ConnectionInfo]:
        """Connections whose last heartbeat is older than `older_than` seconds."""
        ...

    async def start_typing(self, room_id: str, user_id: str) -> bool:
        """Mark (or refresh) typing; True when the user was not typing in the room before."""
        ...

    async def stop_typing(self, room_id: str, user_id: str) -> bool:
        """True when the user was typing in the room."""
        ...

    async def stop_typing_everywhere(self, user_id: str) -> list[str]:
        """End all of a user's typing; return the rooms where it was typing."""
        ...

    async def expire_typing(self, older_than: float) -> list[tuple[str, str]]:
        """Remove and return (room_id, user_id) typing entries not refreshed for that long.

        Atomic, so that two sweepers never both announce the same expiry.
        """
        ...

    async def acquire_rate(self, key: str, limit: int, window: float) -> RateDecision:
        """Take one slot of a sliding window of `limit` hits per `window` seconds."""
        ...

    async def release_rate(self, key: str, token: str) -> None:
        """Give back a slot whose action did not happen after all."""
        ...

    async def touch_activity(self, user_id: str) -> None: ...

    async def recently_active(self, user_ids: Iterable[str], within: float) -> set[str]: ...

    async def set_visible(self, connection_id: str, visible: bool) -> bool:
        """Record whether a connection's page is visible (a new connection is); False when
        the connection is unknown."""
        ...

    async def visible_users(self, user_ids: Iterable[str]) -> set[str]:
        """The given users that hold at least one visible connection."""
        ...

    async def add_counter(self, name: str, amount: float = 1.0) -> None:
        """Add to a deployment-wide counter (for metrics of work any process may do)."""
        ...

    async def counters(self) -> dict[str, float]: ...

    async def close(self) -> None: ...


Kind = Literal["memory", "redis"]
