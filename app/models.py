"""Tables. Ids are UUID strings; timestamps are timezone-aware UTC."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
    types,
)
from sqlmodel import Column, Field, SQLModel
from uuid_utils import uuid7


def utcnow() -> datetime:
    return datetime.now(UTC)


class _RandomBytes:
    """`os.urandom` in blocks: uuid4() makes a system call per id, which also gives up the
    GIL (and on a busy process waits to get it back behind the database threads); here one
    call serves 256 ids. A child process starts with an empty block (no id twice)."""

    BLOCK = 16 * 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._used = 0

    def take(self, size: int) -> bytes:
        with self._lock:
            if self._used + size > len(self._block):
                self._block, self._used = os.urandom(self.BLOCK), 0
            start = self._used
            self._used = start + size
            return self._block[start : start + size]

    def forget(self) -> None:
        self._block, self._used = b"", 0
        self._lock = threading.Lock()


_RANDOM = _RandomBytes()
os.register_at_fork(after_in_child=_RANDOM.forget)


def new_id() -> str:
    """A random UUID (version 4), from the operating system's CSPRNG as uuid4()'s."""
    return str(uuid.UUID(bytes=_RANDOM.take(16), version=4))


def new_message_id() -> str:
    """A time-ordered id (UUIDv7, RFC 9562) for the table that grows fastest: new keys land
    at the right edge of its id index instead of at a random page (+10% acked writes on
    SQLite, docs/benchmarks.md, session 13). Its first 48 bits are the creation time in
    milliseconds, which `created_at` shows anyway (uuid-utils keeps a process's ids increasing
    within a millisecond without running its clock ahead)."""
    return str(uuid7())


class UTCDateTime(types.TypeDecorator[datetime]):
    """Stores UTC; SQLite keeps no zone, so it is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(StrEnum):
    admin = "admin"
    member = "member"
    bot = "bot"


class RoomKind(StrEnum):
    open = "open"
    closed = "closed"
    direct = "direct"


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_bot_key_hash", "bot_key_hash", unique=True),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    email_address: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=200)
    role: str = Field(default=Role.member, max_length=16)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # SHA-256 of the uploaded avatar (None: the initials SVG); also its ETag and URL version.
    avatar_key: str | None = Field(default=None, max_length=64)
    # Bots only: SHA-256 of the bot key (like session tokens, never stored in the clear).
    bot_key_hash: str | None = Field(default=None, max_length=64)
    webhook_url: str | None = Field(default=None, max_length=2000)


class Session(SQLModel, table=True):
    """A login. Only a hash of the token is stored, so a database leak yields no tokens."""

    __tablename__ = "sessions"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_active_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Room(SQLModel, table=True):
    __tablename__ = "rooms"
    __table_args__ = (Index("ix_rooms_direct_key", "direct_key", unique=True),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    creator_id: str = Field(foreign_key="users.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The seq of the room's newest message; bumped in the transaction that stores one,
    # which also makes that row the per-room lock that keeps seqs gapless.
    last_seq: int = Field(default=0)
    last_message_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The room's revision counter (PROTOCOL.md 9.1): bumped by every change to an existing
    # message, in the transaction that makes it, under the same row lock as last_seq.
    last_rev: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # Open rooms that every new member joins ("All Talk").
    auto_join: bool = Field(default=False)
    # Direct rooms: a digest of the sorted member ids. Unique, so that two concurrent
    # creations of the same conversation cannot both commit (services/directs.py).
    direct_key: str | None = Field(default=None, max_length=64)


class Involvement(StrEnum):
    """How much of a room reaches a member (Campfire's levels, PROTOCOL.md section 9.2)."""

    everything = "everything"
    mentions = "mentions"
    nothing = "nothing"
    invisible = "invisible"


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"

    room_id: str = Field(foreign_key="rooms.id", primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", primary_key=True, index=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Read state: the member has read the room up to this seq; it only moves forward.
    last_read_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    involvement: str = Field(
        default=Involvement.mentions, max_length=16, sa_column_kwargs={"server_default": "mentions"}
    )


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("room_id", "seq", name="uq_messages_room_seq"),
        UniqueConstraint("creator_id", "client_message_id", name="uq_messages_creator_client_id"),
        Index("ix_messages_id", "id", unique=True),
        Index("ix_messages_room_rev", "room_id", "rev"),
    )

    # Insertion order across rooms, for the single-cursor resume form (last_seen_message_id).
    position: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    id: str = Field(default_factory=new_message_id, max_length=36)
    room_id: str = Field(foreign_key="rooms.id", max_length=36)
    creator_id: str = Field(foreign_key="users.id", max_length=36)
    content: str = Field(sa_type=Text)
    client_message_id: str = Field(max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    seq: int
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A tombstone keeps its seq (so seqs stay gapless) with its content emptied.
    deleted: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # The room's rev at this message's latest change; 0 while never changed.
    rev: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # A JSON array of user ids: read with the message on every hot path, never queried alone.
    mention_ids: str = Field(
        default="[]", sa_type=Text, sa_column_kwargs={"server_default": text("'[]'")}
    )


class Boost(SQLModel, table=True):
    """Campfire's reactions: short text (usually an emoji) one user attaches to a message."""

    __tablename__ = "boosts"
    __table_args__ = (
        UniqueConstraint("message_id", "user_id", "content", name="uq_boosts_message_user_content"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    # Cascade: deleting a message row (a deleted room, PROTOCOL.md 9.3) takes its boosts along.
    message_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    user_id: str = Field(foreign_key="users.id", max_length=36)
    content: str = Field(max_length=16)  # code points: PROTOCOL.md 9.1 allows 1-16
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription (RFC 8030); the endpoint names it."""

    __tablename__ = "push_subscriptions"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    endpoint: str = Field(max_length=2000, unique=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VapidKey(SQLModel, table=True):
    """The deployment's VAPID key pair (RFC 8292), made once; one row, id 1."""

    __tablename__ = "vapid_keys"

    id: int = Field(primary_key=True)
    private_key: str = Field(max_length=100)  # URL-safe base64 of the raw 32-byte scalar
    public_key: str = Field(max_length=100)  # URL-safe base64 of the uncompressed point
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Avatar(SQLModel, table=True):
    """An uploaded avatar, already resized (small: kept in the database, shared by every
    process without a file store)."""

    __tablename__ = "avatars"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=36)
    content: bytes = Field(sa_type=LargeBinary)
    content_type: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Account(SQLModel, table=True):
    """The one row of deployment-wide settings (id 1): the join code."""

    __tablename__ = "account"

    id: int = Field(primary_key=True)
    join_code: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# Search index objects that the migrations build by hand (SQLite's FTS5 table and its shadow
# tables, PostgreSQL's expression index; see migrations/versions/0004_search.py): no model
# describes them, so schema comparisons leave them out.
HAND_MADE_PREFIXES = ("messages_fts", "ix_messages_search")


def is_modelled(name: str | None, type_: str, _parent_names: Any = None) -> bool:
    """Alembic's `include_name` hook: False for the hand-made search index objects."""
    return not (name or "").startswith(HAND_MADE_PREFIXES)


class Attachment(SQLModel, table=True):
    """An uploaded file (PROTOCOL.md 9.4): unused until a message of its uploader takes it."""

    __tablename__ = "attachments"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    room_id: str = Field(foreign_key="rooms.id", index=True, max_length=36, ondelete="CASCADE")
    uploader_id: str = Field(foreign_key="users.id", max_length=36)
    # messages.id once sent (no foreign key: messages are keyed by position).
    message_id: str | None = Field(default=None, index=True, max_length=36)
    # Its place among the message's attachments.
    position: int = Field(default=0)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    byte_size: int = Field(sa_type=BigInteger)
    width: int | None = Field(default=None)
    height: int | None = Field(default=None)
    # pending (images, until the job ran), done, failed, none (not an image)
    thumbnail_state: str = Field(default="none", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class ServerSecret(SQLModel, table=True):
    """Secrets the server makes once and shares between its processes (e.g. URL signing)."""

    __tablename__ = "server_secrets"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
