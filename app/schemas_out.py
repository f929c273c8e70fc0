"""The public objects we send back (users, rooms, messages, boosts, files), re-exported by
app/schemas.py; each is dumped whole through `wire`."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from app import models


def avatar_url(user_id: str, name: str, avatar_key: str | None) -> str:
    """Never null: the upload, or the initials SVG. The version in the query changes with the
    picture (or, for initials, the name), so a browser may cache each URL for good."""
    version = (
        avatar_key[:16] if avatar_key else "i" + hashlib.sha256(name.encode()).hexdigest()[:12]
    )
    return f"/api/users/{user_id}/avatar?v={version}"


def _absent(value: Any) -> bool:
    return value is None


class UserOut(BaseModel):
    id: str
    name: str
    email_address: str | None = None
    role: str
    avatar_url: str | None = None

    @classmethod
    def of(cls, user: models.User) -> UserOut:
        return cls(
            id=user.id,
            name=user.name,
            email_address=user.email_address,
            role=user.role,
            avatar_url=avatar_url(user.id, user.name, user.avatar_key),
        )


class RoomOut(BaseModel):
    id: str
    name: str
    kind: Literal["open", "closed", "direct"]
    created_at: datetime
    creator_id: str
    # A room has one of these two: its members, or (a room above CAMPFIRE_ROOM_MEMBER_IDS_MAX,
    # docs/protocol-notes.md) only how many there are. The absent one is left out of the
    # JSON, not sent as null, so a small room's shape is exactly PROTOCOL.md's.
    member_ids: list[str] | None = Field(default=None, exclude_if=_absent)
    member_count: int | None = Field(default=None, exclude_if=_absent)

    @classmethod
    def of(
        cls,
        room: models.Room,
        member_ids: list[str] | None = None,
        member_count: int | None = None,
    ) -> RoomOut:
        return cls(
            id=room.id,
            name=room.name,
            kind=room.kind,  # type: ignore[arg-type]
            created_at=room.created_at,
            creator_id=room.creator_id,
            member_ids=member_ids,
            member_count=member_count,
        )

    @property
    def size(self) -> int:
        """How many members the room has, whichever way it is described."""
        if self.member_ids is not None:
            return len(self.member_ids)
        return self.member_count or 0


class BoostOut(BaseModel):
    id: str
    message_id: str
    user_id: str
    content: str
    created_at: datetime


class AttachmentOut(BaseModel):
    """A file (PROTOCOL.md 9.4). `url` and `thumbnail_url` are signed and expire; width and
    height are known once the thumbnail job has read an image."""

    id: str
    filename: str
    content_type: str
    byte_size: int
    width: int | None = None
    height: int | None = None
    url: str
    thumbnail_url: str | None = None


class OpenRoomOut(BaseModel):
    """An entry of the room directory (`GET /api/rooms/open`)."""

    id: str
    name: str
    kind: Literal["open"]
    created_at: datetime
    creator_id: str
    auto_join: bool
    member: bool
    member_count: int


class MessageOut(BaseModel):
    id: str
    room_id: str
    creator_id: str
    content: str
    client_message_id: str
    created_at: datetime
    seq: int
    # PROTOCOL.md 9.1; `model_construct` fills these defaults for a message just stored.
    # Plain `[]` defaults, not `default_factory=list`: pydantic copies an empty list default
    # for each instance all the same, but for a factory `model_construct` first inspects its
    # signature (for `list`: an `ast` parse of its text signature), ~1 ms per call (2.14).
    edited_at: datetime | None = None
    deleted: bool = False
    boosts: list[BoostOut] = []
    mention_ids: list[str] = []
    attachments: list[AttachmentOut] = []
    rev: int = 0

    @classmethod
    def of(cls, message: models.Message) -> MessageOut:
        return cls(
            id=message.id,
            room_id=message.room_id,
            creator_id=message.creator_id,
            content=message.content,
            client_message_id=message.client_message_id,
            created_at=message.created_at,
            seq=message.seq,
            edited_at=message.edited_at,
            deleted=message.deleted,
            mention_ids=orjson.loads(message.mention_ids),
            rev=message.rev,
        )


def wire(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
