"""The OpenAPI operations of PROTOCOL.md 9.3 and 9.6 (app/http/people.py), merged into the
document by app/http/openapi.py; the bots' operations are in app/http/openapi_bots.py."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.http.openapi_bots import Bot, BotList, BotWithKey, bots_paths
from app.schemas import (
    OpenRoomOut,
)
from app.schemas_people import (
    BotPostIn,
    CreateBotIn,
    SignUpIn,
    UpdateBotIn,
    UpdateMeIn,
    UpdateUserIn,
)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetupStatus(_Envelope):
    needed: bool


class JoinCode(_Envelope):
    code: str
    url: str


class OpenRoomList(_Envelope):
    rooms: list[OpenRoomOut]


INBOUND: list[type[BaseModel]] = [
    SignUpIn,
    UpdateMeIn,
    UpdateUserIn,
    CreateBotIn,
    UpdateBotIn,
    BotPostIn,
]
OUTBOUND: list[type[BaseModel]] = [SetupStatus, JoinCode, OpenRoomList, Bot, BotWithKey, BotList]


def adjust(schemas: dict[str, Any]) -> None:
    """What the models cannot say themselves."""
    # The current password is needed to change the email address or the password.
    schemas["UpdateMeIn"]["dependentRequired"] = {
        "email_address": ["current_password"],
        "password": ["current_password"],
    }


def paths(h: Any) -> dict[str, Any]:
    """`h` is app.http.openapi (its building blocks), passed in to avoid an import cycle."""
    op, js, err = h._operation, h._json, h._error
    admin_only = {"403": err("forbidden: the caller is not an admin")}
    user_id = h._path_id("user_id", "the user's id")
    no_user = {"404": err("not_found: no such user (or already deactivated)")}
    signed_in = {"201": js("SessionCreated", "created and signed in")}
    return {
        "/api/setup": {
            "get": op(
                "setupStatus",
                "Whether the first-run form is needed (no user exists yet)",
                "onboarding",
                {"200": js("SetupStatus", "needed: true on an empty database")},
                security=h.PUBLIC,
            ),
            "post": op(
                "setup",
                "First run: create the admin and the open room All Talk, signed in",
                "onboarding",
                {
                    **signed_in,
                    **h.WITH_BODY,
                    "409": err("conflict: already set up (a user exists)"),
                },
                security=h.PUBLIC,
                body="SignUpIn",
            ),
        },
        "/api/account/join_code": {
            "get": op(
                "getJoinCode",
                "The join link (admins only)",
                "onboarding",
                {"200": js("JoinCode", "the code and its URL"), **h.UNAUTHORIZED, **admin_only},
            ),
            "post": op(
                "rotateJoinCode",
                "A new join link; the old one stops working (admins only)",
                "onboarding",
                {"200": js("JoinCode", "the new code"), **h.UNAUTHORIZED, **admin_only},
            ),
        },
        "/api/join/{code}": {
            "post": op(
                "join",
                "Sign up through a join link: a member, signed in, in every auto_join room",
                "onboarding",
                {
                    **signed_in,
                    **h.WITH_BODY,
                    "404": err("not_found: a wrong or rotated code"),
                    "409": err("conflict: the email address is taken"),
                },
                security=h.PUBLIC,
                parameters=[
                    {
                        "name": "code",
                        "in": "path",
                        "required": True,
                        "description": "the code of the join link",
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
                body="SignUpIn",
            ),
        },
        "/api/rooms": {
            "post": h._paths()["/api/rooms"]["post"]
            | {
                "responses": {
                    **h._paths()["/api/rooms"]["post"]["responses"],
                    "200": js(
                        "RoomEnvelope",
                        "a direct room with exactly these members exists: that room",
                    ),
                }
            },
        },
        "/api/rooms/open": {
            "get": op(
                "openRooms",
                "The room directory: every open room, with member and member_count",
                "rooms",
                {"200": js("OpenRoomList", "open rooms by name"), **h.UNAUTHORIZED},
            ),
        },
        "/api/rooms/{room_id}": {
            "delete": op(
                "deleteRoom",
                "Delete a room with its messages (its creator or an admin; not direct rooms)",
                "rooms",
                {
                    "204": {"description": "deleted; every member's connections got RoomLeft"},
                    **h.INVALID,
                    **h.UNAUTHORIZED,
                    "403": err(
                        "room_access_denied (not a member) or forbidden (not the creator or "
                        "an admin; a direct room)"
                    ),
                    **h.ROOM_MISSING,
                },
                parameters=[h.ROOM_ID],
            ),
        },
        "/api/me": {
            "patch": op(
                "updateMe",
                "Change one's name, email address or password",
                "users",
                {
                    "200": js("UserEnvelope", "the caller as they are now"),
                    **h.WITH_BODY,
                    **h.UNAUTHORIZED,
                    "403": err("forbidden: current_password is missing or wrong"),
                    "409": err("conflict: the email address is taken"),
                },
                body="UpdateMeIn",
                description="The email address and the password need `current_password`. A "
                "new password signs out every other session (`session_revoked`).",
            ),
        },
        "/api/me/avatar": {
            "put": op(
                "putAvatar",
                "Upload one's avatar (PNG, JPEG, GIF or WebP; at most 5 MB)",
                "users",
                {
                    "200": js("UserEnvelope", "the caller with the new avatar_url"),
                    **h.UNAUTHORIZED,
                    "413": err("the image is over 5 MB"),
                    "422": err("invalid_message_format: not an image Campfire reads"),
                },
                description="The body is the image itself, or a multipart form with the "
                "image as its file. It is resized to at most 256 px square.",
            )
            | {
                "requestBody": {
                    "required": True,
                    "content": {
                        "image/*": {"schema": {"type": "string", "format": "binary"}},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                                "required": ["file"],
                            }
                        },
                    },
                }
            },
            "delete": op(
                "deleteAvatar",
                "Remove one's avatar (the initials are shown again)",
                "users",
                {"200": js("UserEnvelope", "the caller"), **h.UNAUTHORIZED},
            ),
        },
        "/api/users/{user_id}/avatar": {
            "get": op(
                "getAvatar",
                "A user's avatar: the upload, or an initials SVG",
                "users",
                {
                    "200": {
                        "description": "the picture, with an ETag",
                        "content": {
                            "image/webp": {"schema": {"type": "string", "format": "binary"}},
                            "image/svg+xml": {"schema": {"type": "string"}},
                        },
                    },
                    "304": {"description": "unchanged (If-None-Match)"},
                    **h.INVALID,
                    **no_user,
                },
                security=h.PUBLIC,
                parameters=[
                    user_id,
                    {
                        "name": "v",
                        "in": "query",
                        "required": False,
                        "description": "the version from avatar_url (for caching)",
                        "schema": {"type": "string"},
                    },
                ],
            ),
        },
        "/api/users/{user_id}": {
            "patch": op(
                "updateUser",
                "Change a person's role (admins only; not one's own)",
                "admin",
                {
                    "200": js("UserEnvelope", "the user as they are now"),
                    **h.WITH_BODY,
                    **h.UNAUTHORIZED,
                    "403": err("forbidden: not an admin, one's own role, or a bot"),
                    **no_user,
                },
                parameters=[user_id],
                body="UpdateUserIn",
            ),
            "delete": op(
                "deactivateUser",
                "Deactivate a person: signed out everywhere, sign-in refused, messages kept",
                "admin",
                {
                    "204": {"description": "deactivated; their sockets got Disconnect"},
                    **h.INVALID,
                    **h.UNAUTHORIZED,
                    "403": err("forbidden: not an admin, or oneself"),
                    **no_user,
                },
                parameters=[user_id],
            ),
        },
        **bots_paths(h, admin_only),
    }
