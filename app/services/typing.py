"""Typing indicators: started by clients, ended by them, by sending, leaving, or expiry."""

from __future__ import annotations

import time

from app import models
from app.config import Settings
from app.db import Database
from app.errors import CampfireError, ErrorCode, room_access_denied
from app.notifier import Notifier
from app.state import RealtimeState


class TypingService:
    def __init__(
        self, settings: Settings, db: Database, state: RealtimeState, notifier: Notifier
    ) -> None:
        self._settings = settings
        self._db = db
        self._state = state
        self._notifier = notifier
        # (room_id, user_id) -> monotonic time of the last TypingStart relayed for it, in this
        # process: a tab's refreshes reach the process holding its socket, so this throttles
        # each tab; entries go on stop, or once older than the typing timeout.
        self._relayed: dict[tuple[str, str], float] = {}

    async def start(self, user_id: str, room_id: str) -> None:
        await self._require_member(user_id, room_id)
        # The budget (PROTOCOL.md: 10 a minute) is for starting to type. A refresh of typing
        # still going on, paced like the relay (one per typing_refresh_seconds, before the
        # expiry), is free: a minute of typing needs 12 refreshes against the 5 s expiry.
        # Anything faster is counted, so a flood of TypingStart is still refused.
        if not self._paced_refresh(room_id, user_id):
            decision = await self._state.acquire_rate(
                f"typing:{user_id}", self._settings.typing_rate, self._settings.rate_window_seconds
            )
            if not decision.allowed:
                raise CampfireError(
                    ErrorCode.rate_limit_exceeded,
                    "too many TypingStart events; slow down",
                    retry_after=decision.retry_after,
                )
        fresh = await self._state.start_typing(room_id, user_id)
        # Refreshes are relayed too (at most one per typing_refresh_seconds), so that receivers
        # can keep the indicator alive for as long as typing goes on rather than guess.
        if fresh or self._refresh_due(room_id, user_id):
            self._relayed[(room_id, user_id)] = time.monotonic()
            await self._broadcast("TypingStart", user_id, room_id)

    async def client_stop(self, user_id: str, room_id: str) -> None:
        """A client's `TypingStop`: like `TypingStart`, only for a member of the room (an
        outsider must not learn whether the room exists, nor end someone's indicator)."""
        await self._require_member(user_id, room_id)
        await self.stop(user_id, room_id)

    def _paced_refresh(self, room_id: str, user_id: str) -> bool:
        last = self._relayed.get((room_id, user_id))
        if last is None:
            return False
        since = time.monotonic() - last
        return (
            self._settings.typing_refresh_seconds <= since < (self._settings.typing_timeout_seconds)
        )

    def _refresh_due(self, room_id: str, user_id: str) -> bool:
        now = time.monotonic()
        if len(self._relayed) > 10_000:
            cutoff = now - self._settings.typing_timeout_seconds
            self._relayed = {k: t for k, t in self._relayed.items() if t >= cutoff}
        last = self._relayed.get((room_id, user_id))
        return last is None or now - last >= self._settings.typing_refresh_seconds

    async def stop(self, user_id: str, room_id: str) -> None:
        self._relayed.pop((room_id, user_id), None)
        if await self._state.stop_typing(room_id, user_id):
            await self._broadcast("TypingStop", user_id, room_id)

    async def stop_everywhere(self, user_id: str) -> None:
        for room_id in await self._state.stop_typing_everywhere(user_id):
            await self._broadcast("TypingStop", user_id, room_id)

    async def expire(self) -> int:
        """End typing not refreshed within the timeout; the typing-expiry job's body."""
        expired = await self._state.expire_typing(self._settings.typing_timeout_seconds)
        for room_id, user_id in expired:
            await self._broadcast("TypingStop", user_id, room_id)
        return len(expired)

    async def _require_member(self, user_id: str, room_id: str) -> None:
        async with self._db.session() as db:
            if await db.get(models.Room, room_id) is None:
                raise CampfireError(ErrorCode.not_found, "room not found")
            if await db.get(models.Membership, (room_id, user_id)) is None:
                raise room_access_denied()

    async def _broadcast(self, event: str, user_id: str, room_id: str) -> None:
        # Typing goes to the room's other members, never back to the typist's own tabs.
        typist = await self._state.user_connections(user_id)
        await self._notifier.to_room(
            room_id,
            event,
            {"user_id": user_id, "room_id": room_id},
            skip_sids=[c.sid for c in typist],
        )
