"""Payloads of read state, involvement and Web Push (PROTOCOL.md section 9.2).

Kept beside `app.schemas` (whose conventions they follow: inbound models forbid unknown
fields and coerce nothing) so that this feature's shapes live in one place.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, field_validator

from app.schemas import Inbound, RoomOut, _HasRoom

# Seqs are 32-bit columns (PostgreSQL INTEGER).
SEQ_MAX = 2**31 - 1


def _integral(value: Any) -> Any:
    # JSON Schema's integer includes 777.0; strict mode would refuse it as a float.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Seq = Annotated[int, Field(ge=0, le=SEQ_MAX), BeforeValidator(_integral)]
InvolvementName = Literal["everything", "mentions", "nothing", "invisible"]
MAX_ENDPOINT_LENGTH = 2000


class MarkReadIn(_HasRoom):
    """`MarkRead {room_id, seq}`."""

    seq: Seq


class ReadIn(Inbound):
    """`POST /api/rooms/{id}/read {seq}`."""

    seq: Seq


class MembershipIn(Inbound):
    """`PATCH /api/rooms/{id}/membership {involvement}`."""

    involvement: InvolvementName


class VisibilityIn(Inbound):
    """`Visibility {visible}`."""

    visible: bool


def _decoded_length(value: str) -> int:
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return -1


class PushKeysIn(Inbound):
    # p256dh: the browser's P-256 public key, an uncompressed point (65 bytes);
    # auth: the 16-byte authentication secret (RFC 8291).
    # 0x04 then 64 bytes: base64url "B" then one of "A".."P", 85 more (one "=" of padding).
    p256dh: Annotated[
        str,
        StringConstraints(min_length=87, max_length=88, pattern=r"^B[A-P][A-Za-z0-9_-]{85}=?$"),
    ]
    auth: Annotated[
        str, StringConstraints(min_length=22, max_length=24, pattern=r"^[A-Za-z0-9_-]{22}(==)?$")
    ]

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        raw = value + "=" * (-len(value) % 4)
        try:
            point = base64.urlsafe_b64decode(raw)
        except (binascii.Error, ValueError):
            raise ValueError("must be URL-safe base64") from None
        if len(point) != 65 or point[0] != 4:
            raise ValueError("must be an uncompressed P-256 point (65 bytes)")
        return value.rstrip("=")

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        if _decoded_length(value) != 16:
            raise ValueError("must be 16 bytes in URL-safe base64")
        return value.rstrip("=")


Endpoint = Annotated[
    str,
    # https only, as published; http:// is accepted besides with CAMPFIRE_PUSH_ALLOW_HTTP=1.
    StringConstraints(min_length=9, max_length=MAX_ENDPOINT_LENGTH, pattern=r"^https?://[^\x00]+$"),
]


class PushSubscriptionIn(Inbound):
    """`POST /api/push/subscriptions` (a browser's `PushSubscription.toJSON()`; its
    `expirationTime`, when sent, is accepted and ignored)."""

    endpoint: Endpoint
    keys: PushKeysIn
    expirationTime: int | float | None = None  # the browser's spelling


class PushUnsubscribeIn(Inbound):
    """`DELETE /api/push/subscriptions {endpoint}`."""

    endpoint: Endpoint


# ---- answers ----------------------------------------------------------------------


class MemberRoomOut(RoomOut):
    """A room as one of its members sees it: with that member's read state."""

    last_seq: int
    last_read_seq: int
    unread_count: int
    mentioned: bool
    involvement: InvolvementName


class RoomReadOut(BaseModel):
    """`RoomRead {room_id, last_read_seq}`, also the answer of `POST .../read`."""

    room_id: str
    last_read_seq: int


class VapidKeyOut(BaseModel):
    key: str
