"""Who may open a socket at all, before authentication: the per-address handshake rate."""

from __future__ import annotations

from app.config import Settings
from app.errors import CampfireError, ErrorCode
from app.metrics import Metrics
from app.state import RealtimeState


class AdmissionService:
    def __init__(self, settings: Settings, state: RealtimeState, metrics: Metrics) -> None:
        self._settings = settings
        self._state = state
        self._metrics = metrics

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
