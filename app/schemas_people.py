"""Typed payloads of accounts, people and bots (PROTOCOL.md 9.3): sign-up and join links,
profile changes, roles, bots and their posts. Same rules as app/schemas.py, on whose
primitives (`Inbound`, `Name`, `Content`) they are built."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints, field_validator

from app.schemas import EMAIL_PATTERN, Content, Inbound, Name, _check_content

Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=320, pattern=EMAIL_PATTERN),
    AfterValidator(str.strip),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1000)]


class SignUpIn(Inbound):
    """`POST /api/setup` and `POST /api/join/{code}`."""

    name: Name
    email_address: Email
    password: Password


class UpdateMeIn(Inbound):
    name: Name | None = None
    email_address: Email | None = None
    password: Password | None = None
    current_password: Annotated[str, StringConstraints(max_length=1000)] | None = None


class UpdateUserIn(Inbound):
    role: Literal["admin", "member"]


class CreateBotIn(Inbound):
    name: Name
    webhook_url: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None


class UpdateBotIn(Inbound):
    name: Name | None = None
    webhook_url: Annotated[str, StringConstraints(max_length=2000)] | None = None


class BotPostIn(Inbound):
    content: Content

    _content = field_validator("content")(classmethod(lambda cls, v: _check_content(v)))
