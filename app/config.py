"""Configuration from the environment (PROTOCOL.md section 8)."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def async_database_url(url: str) -> str:
    """Map every accepted DATABASE_URL spelling onto its asyncio driver form."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    for plain, asynchronous in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return asynchronous + url[len(plain) :]
    return url


class Settings(BaseSettings):
    """Every knob of a Campfire process. Unprefixed names follow Heroku conventions."""

    model_config = SettingsConfigDict(env_prefix="CAMPFIRE_", extra="ignore")

    host: str = Field("0.0.0.0", validation_alias=AliasChoices("HOST", "CAMPFIRE_HOST"))
    port: int = Field(8000, validation_alias=AliasChoices("PORT", "CAMPFIRE_PORT"))
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'campfire.sqlite3'}",
        validation_alias=AliasChoices("DATABASE_URL", "CAMPFIRE_DATABASE_URL"),
    )
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "CAMPFIRE_REDIS_URL")
    )
    # Prefix for every Redis key and channel, so that several deployments (or test runs)
    # can share one Redis server.
    redis_prefix: str = "campfire"

    # PostgreSQL: connections per process (and as many again of overflow), and how long a
    # write or session waits for one; reads queue in front of half of them (app/db.py).
    db_pool_size: int = 10
    db_pool_timeout: float = 30.0

    max_connections_per_user: int = 5
    max_connections: int = 10_000
    max_rooms_per_connection: int = 100
    message_rate: int = 60
    # TypingStart per user per minute. PROTOCOL.md names 10, but its own 5 s expiry makes a
    # typist refresh at least 12 times a minute; see docs/protocol-notes.md.
    typing_rate: int = 10
    connect_rate: int = 5
    # Socket.IO handshakes (the connect handler: rate check, authentication, presence
    # registration) run at once per process; the rest wait in line, first come first served,
    # before the 5 s dependency bound (app/outage.py) starts: in a reconnect storm that bound
    # must measure Redis and the database, not the queue for the CPU. A handshake costs ~1-2 ms
    # of CPU and a few round trips: 64 keep the CPU and the database pool busy through those
    # round trips, while the one let in last is through in a fraction of a second.
    # 0 = no cap (every handshake runs at once).
    handshakes_in_flight: int = 64
    # Handshakes waiting for one of those slots before newcomers are refused at once
    # (`server_overloaded`): the default total connection limit, a whole deployment's sockets
    # reconnecting to one process.
    handshakes_waiting: int = 10_000
    # Longest wait for a slot before the handshake is refused. Below Engine.IO's ping interval
    # plus timeout (25 s + 20 s), after which a connection whose reader is held by the wait
    # would be dropped anyway.
    handshake_wait_seconds: float = 30.0
    # Sign-in attempts per IP per 3 minutes (PROTOCOL.md 9.3); 0 = off.
    login_rate: int = 10
    # Let bots' webhooks reach loopback and private addresses (tests, a bot on the same box).
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = 7.0
    rate_window_seconds: float = 60.0
    trusted_proxies: str = ""
    session_ttl_days: float = 30.0

    auth_timeout_seconds: float = 10.0
    typing_timeout_seconds: float = 5.0
    # A refresh (TypingStart while typing) is relayed to the room at most this often per typist.
    typing_refresh_seconds: float = 2.0
    typing_sweep_seconds: float = 1.0
    presence_stale_seconds: float = 300.0
    presence_sweep_seconds: float = 60.0
    heartbeat_seconds: float = 30.0
    recently_active_seconds: float = 300.0
    # A room of more members has presence on request only: no room-wide UserJoined/UserLeft,
    # a bounded PresenceUpdate at authentication (app/services/live_presence.py). 0 = no limit.
    live_presence_max_members: int = 1_000
    # A room of more members is described by `member_count` instead of `member_ids` wherever
    # rooms go out unasked (AuthSuccess, GET /api/rooms, RoomJoined, RoomUpdated, ...): the
    # whole list costs ~40 bytes a member per socket per connect. GET /api/rooms/{id} still
    # answers it whole. Its own knob, not the presence one: they bound different costs, but
    # the same default, so a room loses its ids when it loses live presence. 0 = no limit.
    room_member_ids_max: int = 1_000

    # Missed-message recovery (PROTOCOL.md section 5).
    # With REDIS_URL: a replay no worker has started after this long is run by the web
    # process itself, so that a connecting client gets its SyncComplete without a worker.
    replay_wait_seconds: float = 5.0
    # With REDIS_URL: the worker sends a replay to this process's own channel, one message
    # for the whole replay. Off (0) while a deployment still runs workers older than its web
    # processes (they refuse such jobs); then every process reads every replayed event.
    replay_inbox: bool = True
    # With REDIS_URL: how often each web process checks that it delivered every message of
    # its sockets' rooms (app.realtime.recovery); a lost one arrives within about twice this.
    # 0 turns the audit off.
    fanout_audit_seconds: float = 5.0
    # With REDIS_URL: room emits go on this many shard channels (Redis 7 sharded pub/sub), each
    # process subscribed to the shards of the rooms it has sockets in. 0: one channel for
    # everything (python-socketio's). Every web process of a deployment must use the same.
    pubsub_shards: int = 32
    replay_default: int = 50
    replay_max_per_room: int = 500

    max_content_length: int = 10_000
    # An HTTP request body that has not fully arrived by then is refused (408); 0 = no limit.
    body_timeout_seconds: float = 30.0
    # Engine.IO packets queued for one socket before it counts as a slow consumer.
    max_outgoing_packets: int = 2_000
    # Bytes written to a socket but not yet taken by the kernel before it counts as slow.
    max_outgoing_bytes: int = 4 * 1024 * 1024
    # permessage-deflate costs ~90 KB and much CPU per socket; opt in for slow links.
    websocket_compression: bool = False
    # Fresh websockets upgraded before aiohttp sees them (engineio_seam/front_door.py); off:
    # every connection is aiohttp's until its 101, as before session 13.
    front_door: bool = True
    # Kernel send buffer per connection, in bytes (0: the kernel's own autotuning, up to
    # 4 MB on Linux): what a slow consumer's goodbye may still be behind.
    socket_send_buffer: int = 256 * 1024
    # Largest Engine.IO packet a client may send (announced as maxPayload in the handshake).
    max_http_buffer_size: int = 256 * 1024
    # The Engine.IO fast path (app/realtime/engineio_seam): off serves python-socketio's
    # stock code, for when a library upgrade breaks what the fast path relies on.
    engine_fast_path: bool = True
    # Freeze start-up objects and widen the collector's generations (app/heap.py).
    gc_tuning: bool = True
    ping_interval: float = 25.0
    ping_timeout: float = 20.0

    # /metrics: a bearer token it requires, and/or a listen address of its own (HOST:PORT);
    # with an address set, the public port answers 404 for /metrics.
    metrics_token: str | None = None
    metrics_address: str | None = None
    # Files (PROTOCOL.md 9.4): a local folder unless storage_url names an S3-compatible bucket
    # (s3://bucket/prefix; credentials and region from the usual AWS variables, endpoint from
    # CAMPFIRE_S3_ENDPOINT_URL or AWS_ENDPOINT_URL for a non-AWS service).
    storage_dir: str = "./storage"
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    max_upload_mb: float = 25.0
    attachment_url_ttl_seconds: float = 3600.0
    # An upload waits this long for its thumbnail job, so that its answer has width/height.
    thumbnail_wait_seconds: float = 10.0
    # Images with more pixels than this get no thumbnail (decompression-bomb guard).
    max_image_pixels: int = 40_000_000
    orphan_attachment_hours: float = 24.0
    orphan_sweep_seconds: float = 3600.0

    # Web Push (PROTOCOL.md section 9.2). Without a configured key the pair is made once and
    # stored in the database. The subject is the contact push services may use (a mailto:
    # or https: URL; Apple's service refuses localhost addresses).
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:admin@campfire.invalid"
    # Allow http:// (and private-address) endpoints: for tests with a local push service.
    push_allow_http: bool = False
    push_attempts: int = 4  # tries per push before it is dropped (404/410 are never retried)
    push_backoff_seconds: float = 1.0  # doubled after each failed try
    push_timeout_seconds: float = 10.0
    push_ttl_seconds: int = 24 * 3600  # how long a push service keeps an undelivered push
    push_concurrency: int = 32  # pushes in flight per job
    push_batch_seconds: float = 0.05  # sent messages gathered into one job per window

    access_log: bool = False
    log: str = Field("info", validation_alias=AliasChoices("CAMPFIRE_LOG", "LOG_LEVEL"))

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        return async_database_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(item.strip(), strict=False)
            for item in self.trusted_proxies.split(",")
            if item.strip()
        ]
