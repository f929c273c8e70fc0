"""How domain actions reach live clients.

Domain services call these methods (as Zulip's actions call `send_event`) and never touch
Socket.IO themselves. `app.realtime.delivery.SocketIONotifier` implements them over
python-socketio rooms, which also works from the arq worker through a write-only Redis manager.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

ROOM_PREFIX = "room:"


def room_channel(room_id: str) -> str:
    return f"{ROOM_PREFIX}{room_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


class Notifier(Protocol):
    async def to_room(
        self, room_id: str, event: str, data: dict[str, Any], *, skip_sids: Iterable[str] = ()
    ) -> None:
        """Every subscribed connection of every member of a room."""
        ...

    async def to_user(
        self, user_id: str, event: str, data: dict[str, Any], *, skip_sids: Iterable[str] = ()
    ) -> None:
        """Every connection of one user (but `skip_sids`)."""
        ...

    async def to_connection(self, sid: str, event: str, data: dict[str, Any]) -> None: ...

    async def to_connection_many(
        self, sid: str, events: Sequence[tuple[str, dict[str, Any]]], *, via: str | None = None
    ) -> None:
        """(event, data) pairs to one connection, in order: a replay of many messages.
        `via`: the inbox of the process holding it, when the caller knows it (a replay the
        arq worker sends), to reach that process alone in one message."""
        ...

    async def subscribe(self, sids: Iterable[str], room_id: str) -> None:
        """Let these connections receive the room's events from now on."""
        ...

    async def unsubscribe(self, sids: Iterable[str], room_id: str) -> None:
        """Stop these connections receiving the room's events, before anything else is sent."""
        ...

    async def disconnect(self, sids: Iterable[str], reason: str) -> None:
        """Send `Disconnect {reason}` to each connection, then close it."""
        ...


class NullNotifier:
    """For CLI commands and migrations: domain actions with nobody connected."""

    async def to_room(
        self, room_id: str, event: str, data: dict[str, Any], *, skip_sids: Iterable[str] = ()
    ) -> None:
        return None

    async def to_user(
        self, user_id: str, event: str, data: dict[str, Any], *, skip_sids: Iterable[str] = ()
    ) -> None:
        return None

    async def to_connection(self, sid: str, event: str, data: dict[str, Any]) -> None:
        return None

    async def to_connection_many(
        self, sid: str, events: Sequence[tuple[str, dict[str, Any]]], *, via: str | None = None
    ) -> None:
        return None

    async def subscribe(self, sids: Iterable[str], room_id: str) -> None:
        return None

    async def unsubscribe(self, sids: Iterable[str], room_id: str) -> None:
        return None

    async def disconnect(self, sids: Iterable[str], reason: str) -> None:
        return None
