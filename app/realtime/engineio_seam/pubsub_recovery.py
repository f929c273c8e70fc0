"""Redis pub/sub that reports what it loses (python-socketio internals, hence here).

Mixed into the web processes' Redis manager, before python-socketio's AsyncRedisManager:
- a publish python-socketio gave up on (it logs and moves on) calls `on_publish_failed`;
- every emit this process delivers to its own sockets (its own, before the publish, and the
  other processes', from the subscription) calls `on_emit_handled`, so that
  `app.realtime.recovery.FanoutAudit` knows which seqs arrived here;
- the subscription reconnects at most a second apart (python-socketio doubles its pause up to
  60 s: 10 s of lost fan-out after a 20 s outage) and calls `on_resubscribed` when back.
Relies on AsyncPubSubManager._publish, ._handle_emit and AsyncRedisManager
._redis_listen_with_retries (python-socketio 5.12+), entries of contract.py; the subscription
itself (which channels, on which connection) is `ShardedPubSub._open_subscription`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_RESUBSCRIBE_DELAY = 1.0


class PubSubRecovery:
    """Mixin for python-socketio's AsyncRedisManager (before ShardedPubSub and it in the
    bases)."""

    on_publish_failed: Callable[[dict[str, Any]], None] | None = None
    on_emit_handled: Callable[[dict[str, Any]], None] | None = None
    on_resubscribed: Callable[[], None] | None = None

    async def _publish(self, data: Any) -> Any:
        receivers = await super()._publish(data)  # type: ignore[misc]
        if receivers is None and self.on_publish_failed is not None:
            # python-socketio retried once and gave up: the other processes never see it.
            self.on_publish_failed(data)
        return receivers

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        # Every emit this process delivers to its own sockets passes here: its own (before
        # the publish) and the other processes' (from the subscription).
        await super()._handle_emit(message)  # type: ignore[misc]
        if self.on_emit_handled is not None:
            self.on_emit_handled(message)

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        """The subscription, reconnecting at most a second apart, and saying when it is back."""
        subscribed = False
        failures = 0
        pubsub: Any = None
        while True:
            try:
                if not subscribed:
                    # The shared channel and every shard channel in use (sharded_pubsub.py).
                    pubsub = await self._open_subscription()  # type: ignore[attr-defined]
                    subscribed = True
                    if failures and self.on_resubscribed is not None:
                        self.on_resubscribed()
                    failures = 0
                async for message in pubsub.listen():
                    yield message
            except Exception as exc:
                failures += 1
                subscribed = False
                # Nothing may reconnect the old connection (redis-py would, for a command
                # sent on it) and leave it subscribed with nobody reading it.
                self._subscription_lost()  # type: ignore[attr-defined]
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                    pubsub = None
                if failures == 1 or failures % 30 == 0:
                    log.warning("lost the Redis subscription (%r); reconnecting", exc)
                await asyncio.sleep(min(0.1 * 2**failures, MAX_RESUBSCRIBE_DELAY))
