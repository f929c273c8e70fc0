"""Typed payloads at the edges: what clients send (validated) and the public objects we send back.

Inbound models forbid unknown fields and coerce nothing, so a wrong type is refused with
`invalid_message_format` instead of being guessed at.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app import models
from app.errors import invalid

MAX_CONTENT_LENGTH = 10_000
InboundT = TypeVar("InboundT", bound=BaseModel)


class Inbound(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=100_000)


def _uuid_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID string") from None


UUIDStr = Annotated[str, Field(min_length=32, max_length=45)]


class _HasRoom(Inbound):
    room_id: UUIDStr

    @field_validator("room_id", mode="before")
    @classmethod
    def _room_uuid(cls, value: Any) -> str:
        return _uuid_string(value)


def _check_content(value: str) -> str:
    if not value.strip():
        raise ValueError("content must not be empty or blank")
    if len(value) > MAX_CONTENT_LENGTH:
        raise ValueError(f"content must be at most {MAX_CONTENT_LENGTH} characters")
    return value


class NewMessageIn(_HasRoom):
    content: str
    client_message_id: UUIDStr

    _content = field_validator("content")(classmethod(lambda cls, v: _check_content(v)))

    @field_validator("client_message_id", mode="before")
    @classmethod
    def _client_uuid(cls, value: Any) -> str:
        return _uuid_string(value)


class RoomRef(_HasRoom):
    """`{room_id}`: TypingStart, TypingStop, GetPresence, JoinRoom, LeaveRoom."""


class AuthIn(Inbound):
    session_token: str | None = None
    last_seen_message_id: str | None = None
    last_seen: dict[str, Annotated[int, Field(ge=0)]] | None = None


class PostMessageIn(Inbound):
    content: str
    client_message_id: UUIDStr | None = None

    _content = field_validator("content")(classmethod(lambda cls, v: _check_content(v)))

    @field_validator("client_message_id", mode="before")
    @classmethod
    def _client_uuid(cls, value: Any) -> str | None:
        return None if value is None else _uuid_string(value)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class LoginIn(Inbound):
    email_address: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class CreateUserIn(Inbound):
    name: Name
    email_address: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"
        ),
    ]
    password: Annotated[str, StringConstraints(min_length=8, max_length=1000)]
    role: Literal["admin", "member", "bot"] = "member"


class CreateRoomIn(Inbound):
    name: Name
    kind: Literal["open", "closed", "direct"]
    member_ids: Annotated[list[UUIDStr], Field(max_length=1000)] = Field(default_factory=list)

    @field_validator("member_ids", mode="before")
    @classmethod
    def _member_uuids(cls, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValueError("must be a list of UUID strings")
        return [_uuid_string(v) for v in value]


class UpdateRoomIn(Inbound):
    name: Name | None = None


class AddMemberIn(Inbound):
    user_id: UUIDStr

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_uuid(cls, value: Any) -> str:
        return _uuid_string(value)


def parse(model: type[InboundT], data: Any) -> InboundT:
    """Validate client data, turning any failure into one readable `invalid_message_format`."""
    if not isinstance(data, dict):
        raise invalid("payload must be a JSON object")
    try:
        return model.model_validate(data)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise invalid(_describe(exc)) from None


def _describe(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for error in errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "payload"
        message = error.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


# ---- public objects ---------------------------------------------------------------


class UserOut(BaseModel):
    id: str
    name: str
    email_address: str | None = None
    role: str
    avatar_url: str | None = None

    @classmethod
    def of(cls, user: models.User) -> UserOut:
        return cls(id=user.id, name=user.name, email_address=user.email_address, role=user.role)


class RoomOut(BaseModel):
    id: str
    name: str
    kind: Literal["open", "closed", "direct"]
    created_at: datetime
    creator_id: str
    member_ids: list[str] | None = None

    @classmethod
    def of(cls, room: models.Room, member_ids: list[str] | None = None) -> RoomOut:
        return cls(
            id=room.id,
            name=room.name,
            kind=room.kind,  # type: ignore[arg-type]
            created_at=room.created_at,
            creator_id=room.creator_id,
            member_ids=member_ids,
        )


class MessageOut(BaseModel):
    id: str
    room_id: str
    creator_id: str
    content: str
    client_message_id: str
    created_at: datetime
    seq: int

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
        )


def wire(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
