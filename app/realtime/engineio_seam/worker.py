"""The arq worker's emitter: a write-only python-socketio Redis manager whose failures show.

python-socketio retries a failed publish once and then only logs it; this raises instead,
so that `SocketIONotifier` counts it and a job can react. Its room emits go on the rooms'
shard channels as the web processes' do (`ShardedPubSub`), and a replay to one socket goes
to the inbox of the process holding it, in one message. Relies on `_publish`, `host_id`,
`channel` and `redis` of `socketio.AsyncRedisManager` (contract.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import socketio
from prometheus_client import Counter

from app.metrics import Metrics
from app.realtime.engineio_seam.sharded_pubsub import ShardedPubSub, encode_batch

log = logging.getLogger(__name__)


class WorkerEmitError(RuntimeError):
    """An emit that never reached Redis, so no web process can deliver it."""


class WorkerRedisManager(ShardedPubSub, socketio.AsyncRedisManager):
    """A write-only AsyncRedisManager; `failures` counts emits that never reached Redis (or,
    sent to one process's inbox, that no process heard)."""

    def __init__(self, url: str, *, channel: str, metrics: Metrics, shards: int = 0) -> None:
        super().__init__(url, channel=channel, write_only=True)
        self.shards = shards
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
                self.channel_of(data.get("room")),
                data.get("method"),
            )
        return receivers

    async def send_events(
        self, inbox: str, sid: str, events: Sequence[tuple[str, Any]], namespace: str = "/"
    ) -> None:
        """`events` to `sid` in one message on the inbox channel of the process holding it.
        Nobody hearing it is a failure here: that process is resubscribing (a retry reaches
        it) or gone (its sockets with it)."""
        receivers = await self.publish_to(inbox, encode_batch(sid, events, namespace), shard=False)
        if not receivers:
            self.failures += 1
            if receivers == 0:
                self._unheard.inc()
            raise WorkerEmitError(f"{len(events)} events for {sid} did not reach {inbox}")

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
