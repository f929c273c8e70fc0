"""The arq worker's emitter: a write-only python-socketio Redis manager whose failures show.

python-socketio retries a failed publish once and then only logs it; this raises instead,
so that `SocketIONotifier` counts it and a job can react. Relies on `_publish`, `host_id`,
`channel` and `redis` of `socketio.AsyncRedisManager` (contract.py).
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from prometheus_client import Counter

from app.metrics import Metrics

log = logging.getLogger(__name__)


class WorkerEmitError(RuntimeError):
    """An emit that never reached Redis, so no web process can deliver it."""


class WorkerRedisManager(socketio.AsyncRedisManager):
    """A write-only AsyncRedisManager; `failures` counts emits that never reached Redis."""

    def __init__(self, url: str, *, channel: str, metrics: Metrics) -> None:
        super().__init__(url, channel=channel, write_only=True)
        self.failures = 0
        self._unheard = Counter(
            "campfire_worker_unheard_emits",
            "Emits published while no web process was subscribed to the channel",
            registry=metrics.registry,
        )

    async def _publish(self, data: Any) -> Any:
        receivers = await super()._publish(data)
        if receivers is None:  # the base class gave up after its retry
            self.failures += 1
            raise WorkerEmitError(f"could not publish {data.get('method')} to Redis")
        if receivers == 0:
            self._unheard.inc()
            log.warning(
                "no web process is subscribed to %s; %s went nowhere",
                self.channel,
                data.get("method"),
            )
        return receivers

    async def disconnect(self, sid: str, namespace: str | None = None, **kwargs: Any) -> None:
        # The base class first disconnects locally through its server, which a write-only
        # manager does not have; only the web process holding the socket can do it.
        await self._publish(
            {
                "method": "disconnect",
                "sid": sid,
                "namespace": namespace or "/",
                "host_id": self.host_id,
            }
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
