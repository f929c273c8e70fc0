"""Typed payloads at the edges: what clients send (validated) and the public objects we send back.

Inbound models forbid unknown fields and coerce nothing, so a wrong type is refused with
`invalid_message_format` instead of being guessed at. Accounts', people's and bots' payloads
are in app/schemas_people.py, read state's in app/schemas_readstate.py (both built on the
primitives here).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.errors import invalid

# The public objects live in app/schemas_out.py; callers keep importing them from here.
from app.schemas_out import (  # noqa: F401
    AttachmentOut,
    BoostOut,
    MessageOut,
    OpenRoomOut,
    RoomOut,
    UserOut,
    avatar_url,
    wire,
)

MAX_CONTENT_LENGTH = 10_000
InboundT = TypeVar("InboundT", bound=BaseModel)

# The published OpenAPI document is generated from these models, so each rule a validator
# enforces is also stated as a JSON Schema keyword (a `pattern`, a length) that says exactly
# the same thing. Patterns are read by tools in different regex dialects (Python's `re`,
# ECMA-262, Rust's regex in jsonschema-rs, which schemathesis uses), so they avoid every
# construct whose meaning differs between them: no `\s`/`\d`/`\w` (their sets differ), and
# no `$` after a class that excludes a newline (Python's `$` also matches before a final one).
#
# A canonical hyphenated UUID in either case; the length (36) anchors the end.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID_RE = re.compile(UUID_PATTERN)
# Exactly the characters `str.strip()` removes (str.isspace), spelled out for every dialect.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# No NUL anywhere (PostgreSQL text cannot hold one) and at least one character that
# `str.strip()` keeps.
NON_BLANK_PATTERN = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"
# local@domain without whitespace, NUL or a second @; surrounding whitespace is allowed and
# stripped (and a final class that takes a newline keeps `$` the same in every dialect).
EMAIL_PATTERN = rf"^[{WHITESPACE}]*[^@\x00{WHITESPACE}]+@[^@\x00{WHITESPACE}]+[{WHITESPACE}]*$"


class Inbound(BaseModel):
    # python-re: the server reads the patterns above with Python's `re`, not Rust's regex.
    model_config = ConfigDict(
        extra="forbid", strict=True, str_max_length=100_000, regex_engine="python-re"
    )


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and len(value) == 36 and _UUID_RE.match(value) is not None


def _uuid_string(value: Any) -> str:
    # Only the canonical form: uuid.UUID() alone would also take braces, `urn:uuid:` and
    # bare hex, which the published schema (format uuid) does not allow.
    if not is_uuid(value):
        raise ValueError("must be a UUID string")
    return value.lower()  # what str(uuid.UUID(value)) gives for the canonical form, cheaper


UUIDStr = Annotated[
    str,
    Field(
        min_length=36,
        max_length=36,
        json_schema_extra={"format": "uuid", "pattern": UUID_PATTERN},
    ),
]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _non_blank(value: str) -> str:
    _no_nul(value)
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


class _HasRoom(Inbound):
    room_id: UUIDStr

    @field_validator("room_id", mode="before")
    @classmethod
    def _room_uuid(cls, value: Any) -> str:
        return _uuid_string(value)


def _check_content(value: str) -> str:
    if "\x00" in value:
        raise ValueError("content must not contain NUL characters")
    if not value.strip():
        raise ValueError("content must not be empty or blank")
    if len(value) > MAX_CONTENT_LENGTH:
        raise ValueError(f"content must be at most {MAX_CONTENT_LENGTH} characters")
    return value


# The length check lives in _check_content (for its clearer message); these keywords only
# publish it.
Content = Annotated[
    str,
    Field(
        json_schema_extra={
            "minLength": 1,
            "maxLength": MAX_CONTENT_LENGTH,
            "pattern": NON_BLANK_PATTERN,
        }
    ),
]


MAX_MENTIONS = 50


def _mention_uuids(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("must be a list of user ids")
    if len(value) > MAX_MENTIONS:
        raise ValueError(f"at most {MAX_MENTIONS} user ids")
    # Repeats name one person once; order is kept as the sender wrote it.
    return list(dict.fromkeys(_uuid_string(v) for v in value))


# PROTOCOL.md 9.1: users named in a message, each a member of its room (checked in the
# domain layer); null or absent means none (on an edit: unchanged).
MentionIds = Annotated[
    Annotated[list[UUIDStr], Field(max_length=MAX_MENTIONS)] | None,
    BeforeValidator(_mention_uuids),
]


MAX_ATTACHMENTS = 10


def _attachment_uuids(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("must be a list of UUID strings")
    return list(dict.fromkeys(_uuid_string(v) for v in value))


def _content_text(value: str) -> str:
    """Content that may be blank: a message with files (its blankness is judged elsewhere)."""
    if "\x00" in value:
        raise ValueError("content must not contain NUL characters")
    if len(value) > MAX_CONTENT_LENGTH:
        raise ValueError(f"content must be at most {MAX_CONTENT_LENGTH} characters")
    return value


# Ids of uploads (PROTOCOL.md 9.4); with at least one, `content` may be empty or blank.
AttachmentIds = Annotated[list[UUIDStr], Field(max_length=MAX_ATTACHMENTS)]


class _WithAttachments(Inbound):
    content: Content
    attachment_ids: AttachmentIds | None = None

    _ids = field_validator("attachment_ids", mode="before")(
        classmethod(lambda cls, v: _attachment_uuids(v))
    )

    # Blank content is judged in _content_or_files, once attachment_ids is known.
    _content = field_validator("content")(classmethod(lambda cls, v: _content_text(v)))

    @model_validator(mode="after")
    def _content_or_files(self) -> Any:
        if not self.content.strip() and not self.attachment_ids:
            raise ValueError("content must not be empty or blank (unless files are attached)")
        return self


class NewMessageIn(_WithAttachments, _HasRoom):
    client_message_id: UUIDStr
    mention_ids: MentionIds = None

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
    last_rev: dict[str, Annotated[int, Field(ge=0)]] | None = None


class PostMessageIn(_WithAttachments):
    client_message_id: UUIDStr | None = None
    mention_ids: MentionIds = None

    @field_validator("client_message_id", mode="before")
    @classmethod
    def _client_uuid(cls, value: Any) -> str | None:
        return None if value is None else _uuid_string(value)


# Lengths count the text as sent; surrounding whitespace is stripped only after the checks, so
# that the published maxLength is exact.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    Field(json_schema_extra={"pattern": NON_BLANK_PATTERN}),
    AfterValidator(_non_blank),
    AfterValidator(str.strip),
]


class LoginIn(Inbound):
    email_address: Annotated[
        str, StringConstraints(min_length=1, max_length=320, pattern=NO_NUL_PATTERN)
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class CreateUserIn(Inbound):
    name: Name
    email_address: Annotated[
        str,
        StringConstraints(min_length=3, max_length=320, pattern=EMAIL_PATTERN),
        AfterValidator(str.strip),
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
    # Admins only, open rooms only: new members join the room (PROTOCOL.md 9.3).
    auto_join: bool | None = None


class AddMemberIn(Inbound):
    user_id: UUIDStr

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_uuid(cls, value: Any) -> str:
        return _uuid_string(value)


# ---- message lifecycle (PROTOCOL.md 9.1) ---------------------------------------------

MAX_BOOST_LENGTH = 16

# 1-16 code points (an emoji, or a short word), not blank; kept as written.
BoostContent = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_BOOST_LENGTH),
    Field(json_schema_extra={"pattern": NON_BLANK_PATTERN}),
    AfterValidator(_non_blank),
]


class EditMessageBody(Inbound):
    """`PATCH /api/rooms/{id}/messages/{mid}`. Blank content is refused by the domain layer
    unless the message has files (PROTOCOL.md 9.4)."""

    content: Content
    mention_ids: MentionIds = None

    _content = field_validator("content")(classmethod(lambda cls, v: _content_text(v)))


class BoostBody(Inbound):
    """`POST /api/rooms/{id}/messages/{mid}/boosts`."""

    content: BoostContent


class MessageRef(Inbound):
    """`{message_id}` (DeleteMessage), and the base of the other socket lifecycle events.

    `room_id` is optional: when a client sends it, the message must be in that room."""

    message_id: UUIDStr
    room_id: UUIDStr | None = None

    @field_validator("message_id", "room_id", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> str | None:
        return None if value is None else _uuid_string(value)


class EditMessageIn(MessageRef):
    content: Content
    mention_ids: MentionIds = None

    _content = field_validator("content")(classmethod(lambda cls, v: _content_text(v)))


class AddBoostIn(MessageRef):
    content: BoostContent


class RemoveBoostIn(MessageRef):
    boost_id: UUIDStr

    @field_validator("boost_id", mode="before")
    @classmethod
    def _boost_uuid(cls, value: Any) -> str:
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
