"""Prometheus metrics. Each app gets its own registry so tests can run several in one process."""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_connections = Gauge(
            "campfire_active_connections", "Authenticated sockets on this process", registry=r
        )
        self.events_received = LoopCounter(
            "campfire_events_received", "Socket.IO events received from clients", "event", r
        )
        self.events_sent = LoopCounter(
            "campfire_events_sent", "Socket.IO events emitted to clients", "event", r
        )
        self.messages_stored = LoopCounter(
            "campfire_messages_stored", "Chat messages committed", "via", r
        )
        self.duplicate_sends = Counter(
            "campfire_duplicate_sends",
            "Idempotent resends answered with the first message",
            registry=r,
        )
        self.reconnections = Counter(
            "campfire_reconnections", "Authentications that carried a resume cursor", registry=r
        )
        self.auth_failures = Counter(
            "campfire_auth_failures", "Failed authentications", ["code"], registry=r
        )
        self.rate_limit_hits = Counter(
            "campfire_rate_limit_hits",
            "Refusals by a rate or connection limit",
            ["limit"],
            registry=r,
        )
        # Set by the handshake queue (app/services/admission.py).
        self.handshakes_in_flight = Gauge(
            "campfire_handshakes_in_flight",
            "Socket.IO handshakes running the connect handler "
            "(at most CAMPFIRE_HANDSHAKES_IN_FLIGHT)",
            registry=r,
        )
        self.handshakes_waiting = Gauge(
            "campfire_handshakes_waiting",
            "Socket.IO handshakes waiting for a slot to run the connect handler",
            registry=r,
        )
        self.handshakes_refused = Counter(
            "campfire_handshakes_refused",
            "Handshakes refused by the handshake queue with server_overloaded: the line was "
            "full (queue_full), the wait too long (wait_timeout), or the handshakes ahead "
            "failed on a dependency that is down (outage)",
            ["reason"],
            registry=r,
        )
        self.errors = Counter(
            "campfire_event_errors", "Client events answered with an error", ["code"], registry=r
        )
        self.slow_consumers = Counter(
            "campfire_slow_consumer_disconnects", "Sockets dropped for not reading", registry=r
        )
        self.emit_failures = Counter(
            "campfire_emit_failures",
            "Emits that could not be handed to the fan-out layer",
            registry=r,
        )
        self.pubsub_received = LoopCounter(
            "campfire_pubsub_messages_received",
            "Messages decoded from Redis pub/sub: shared channel (all, this process's own too), "
            "shard channels (other processes' messages of rooms with sockets here) or this "
            "process's inbox (the worker's replays for its sockets, one message each)",
            "channel",
            r,
        )
        self.fanout_repaired = Counter(
            "campfire_fanout_repaired",
            "Messages the fan-out audit delivered after they were lost on the way (Redis)",
            registry=r,
        )
        # Sampled by the soak test for leaks: a count that only grows is one.
        self.asyncio_tasks = Gauge(
            "campfire_asyncio_tasks", "asyncio tasks alive in this process", registry=r
        )
        self.asyncio_tasks.set_function(_task_count)
        self.replayed_messages = Counter(
            "campfire_replayed_messages", "Missed messages sent on (re)connect", registry=r
        )
        self.job_runs = Counter(
            "campfire_job_runs", "Background job runs", ["job", "outcome"], registry=r
        )
        self.ack_latency = LoopHistogram(
            "campfire_ack_latency_seconds", "NewMessage received to MessageDelivered ack", r
        )
        self.delivery_latency = LoopHistogram(
            "campfire_delivery_latency_seconds",
            "Message committed to handed to every local recipient's socket",
            r,
        )
        self.commit_latency = LoopHistogram(
            "campfire_commit_latency_seconds", "Time to durably store a message", r
        )

        # Deployment-wide counters kept in the real-time state (work any process may do, such
        # as the push job in the arq worker); copied in before each scrape.
        self.shared_counters = SharedCounters(r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # rendered outside the event loop (the worker's metrics thread)
        return 0.0


# The metrics below are updated for every event and every message. prometheus_client guards
# each value with a lock, which showed as ~15% of the server's CPU per persisted message; these
# are only ever touched from the event loop's thread, so plain numbers do, and they are turned
# into Prometheus families when /metrics is read.


class LoopCounter:
    """A counter with one label, for the event loop's thread only."""

    def __init__(self, name: str, documentation: str, label: str, registry: CollectorRegistry):
        self._name, self._documentation, self._label = name, documentation, label
        self._values: dict[str, float] = {}
        registry.register(self)

    def inc(self, label: str, amount: float = 1.0) -> None:
        self._values[label] = self._values.get(label, 0.0) + amount

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for label, value in self._values.items():
            family.add_metric([label], value)
        yield family


class SharedCounters:
    """`campfire_<name>_total` for each counter copied in from the shared state."""

    DESCRIPTIONS = {
        "push_sent": "Web Pushes accepted by the push service (deployment-wide)",
        "push_gone": "Push subscriptions deleted after a 404 or 410 (deployment-wide)",
        "push_retried": "Web Push attempts retried after a failure (deployment-wide)",
        "push_dropped": "Web Pushes dropped after every retry failed (deployment-wide)",
    }

    def __init__(self, registry: CollectorRegistry) -> None:
        self.values: dict[str, float] = dict.fromkeys(self.DESCRIPTIONS, 0.0)
        registry.register(self)

    def update(self, values: dict[str, float]) -> None:
        self.values.update(values)

    def collect(self) -> Iterator[Metric]:
        for name, value in self.values.items():
            doc = self.DESCRIPTIONS.get(name, name)
            yield CounterMetricFamily(f"campfire_{name}", doc, value=value)


class LoopHistogram:
    """A latency histogram (seconds, LATENCY_BUCKETS), for the event loop's thread only."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self._name, self._documentation = name, documentation
        self._bounds = LATENCY_BUCKETS
        self._counts = [0] * (len(self._bounds) + 1)  # the last is +Inf
        self._sum = 0.0
        registry.register(self)

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds

    def collect(self) -> Iterator[Metric]:
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, float("inf")), self._counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            self._name, self._documentation, buckets=buckets, sum_value=self._sum
        )
