"""Prometheus metrics. Each app gets its own registry so tests can run several in one process."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, str], Any] = {}
        r = self.registry
        self.active_connections = Gauge(
            "campfire_active_connections", "Authenticated sockets on this process", registry=r
        )
        self.events_received = Counter(
            "campfire_events_received",
            "Socket.IO events received from clients",
            ["event"],
            registry=r,
        )
        self.events_sent = Counter(
            "campfire_events_sent", "Socket.IO events emitted to clients", ["event"], registry=r
        )
        self.messages_stored = Counter(
            "campfire_messages_stored", "Chat messages committed", ["via"], registry=r
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
        self.replayed_messages = Counter(
            "campfire_replayed_messages", "Missed messages sent on (re)connect", registry=r
        )
        self.job_runs = Counter(
            "campfire_job_runs", "Background job runs", ["job", "outcome"], registry=r
        )
        self.ack_latency = Histogram(
            "campfire_ack_latency_seconds",
            "NewMessage received to MessageDelivered ack",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.delivery_latency = Histogram(
            "campfire_delivery_latency_seconds",
            "Message committed to handed to every local recipient's socket",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_latency = Histogram(
            "campfire_commit_latency_seconds",
            "Time to durably store a message",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def child(self, metric: Any, label: str) -> Any:
        """`metric.labels(label)`, looked up once: `labels()` takes a lock and builds a key on
        every call, which shows in profiles of the per-event paths. Labels here come from
        small fixed sets (event names, error codes), so the cache stays small."""
        key = (id(metric), label)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(label)
        return found

    def render(self) -> bytes:
        return generate_latest(self.registry)
