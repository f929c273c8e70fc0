"""The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json`.

Request and response bodies come from the pydantic models the handlers really use
(`app.schemas`, plus the small envelopes below), through `model_json_schema`, so that a
changed model changes the document too. Only what models cannot say (paths, parameters,
statuses, security) is written here by hand; tests fuzz the server against this document.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import metadata
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from app.errors import ErrorCode
from app.http import openapi_people
from app.schemas import (
    UUID_PATTERN,
    AddMemberIn,
    BoostBody,
    BoostOut,
    CreateRoomIn,
    CreateUserIn,
    EditMessageBody,
    LoginIn,
    MessageOut,
    PostMessageIn,
    RoomOut,
    UpdateRoomIn,
    UserOut,
)
from app.schemas_readstate import MemberRoomOut
from app.services.messages import HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT

REF = "#/components/schemas/{model}"


# ---- response envelopes: the exact shapes the handlers in routes.py build ------------


class _Envelope(BaseModel):
    # Answers carry exactly these fields; an extra one would be a change worth noticing.
    model_config = ConfigDict(extra="forbid")


class Error(_Envelope):
    """Every error answer."""

    error: str
    code: ErrorCode


class SessionCreated(_Envelope):
    token: str
    user: UserOut


class UserEnvelope(_Envelope):
    user: UserOut


class UserList(_Envelope):
    users: list[UserOut]


class RoomEnvelope(_Envelope):
    room: RoomOut


class RoomList(_Envelope):
    rooms: list[MemberRoomOut]


class MessageEnvelope(_Envelope):
    message: MessageOut


class MessageList(_Envelope):
    messages: list[MessageOut]


class BoostCreated(_Envelope):
    boost: BoostOut
    message: MessageOut


class Presence(_Envelope):
    online_users: list[str]
    recently_active: list[str]


class Health(_Envelope):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool]


INBOUND: list[type[BaseModel]] = [
    LoginIn,
    CreateUserIn,
    CreateRoomIn,
    UpdateRoomIn,
    AddMemberIn,
    PostMessageIn,
    EditMessageBody,
    BoostBody,
]
OUTBOUND: list[type[BaseModel]] = [
    Error,
    SessionCreated,
    UserEnvelope,
    UserList,
    RoomEnvelope,
    RoomList,
    MessageEnvelope,
    MessageList,
    BoostCreated,
    Presence,
    Health,
    UserOut,
    RoomOut,
    MessageOut,
    BoostOut,
]


def _components() -> dict[str, Any]:
    from app.http.openapi_files import FILES_OUTBOUND
    from app.http.openapi_readstate import INBOUND as READSTATE_IN
    from app.http.openapi_readstate import OUTBOUND as READSTATE_OUT

    outbound = [*OUTBOUND, *READSTATE_OUT, *FILES_OUTBOUND, *openapi_people.OUTBOUND]
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in (*INBOUND, *READSTATE_IN, *openapi_people.INBOUND)),
        *((m, "serialization") for m in outbound),
    ]
    _, top = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = top["$defs"]
    for model in (UserOut, RoomOut, MessageOut, MemberRoomOut, BoostOut):
        # The public objects are dumped whole from these models (schemas.wire), so every
        # field is always present and nothing else ever is.
        schema = schemas[model.__name__]
        schema["additionalProperties"] = False
        schema["required"] = list(schema["properties"])
    for model in outbound:
        _mark_ids(schemas[model.__name__])
    openapi_people.adjust(schemas)
    return schemas


UUID_LISTS = {"online_users", "recently_active"}


def _mark_ids(schema: dict[str, Any]) -> None:
    """Every id in an answer is a UUID (PROTOCOL.md section 1); say so, field by field."""
    for name, field in schema.get("properties", {}).items():
        for branch in field.get("anyOf", [field]):
            if branch.get("type") == "string" and (name == "id" or name.endswith("_id")):
                branch["format"] = "uuid"
            if branch.get("type") == "array" and (name.endswith("_ids") or name in UUID_LISTS):
                branch["items"]["format"] = "uuid"


# ---- building blocks of operations --------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


UUID_SCHEMA = {
    "type": "string",
    "format": "uuid",
    "minLength": 36,
    "maxLength": 36,
    "pattern": UUID_PATTERN,
}


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description + " (a UUID; anything else is 422)",
        "schema": UUID_SCHEMA,
    }


ROOM_ID = _path_id("room_id", "the room's id")
SECURED = [{"bearerAuth": []}]
PUBLIC: list[dict[str, list[str]]] = []

# The errors an operation can answer with, by status.
BAD_JSON = {
    "400": _error("the body is not valid JSON"),
    "408": _error("the body did not arrive within CAMPFIRE_BODY_TIMEOUT_SECONDS"),
}
UNAUTHORIZED = {"401": _error("no token (auth_required), or a wrong, expired or revoked one")}
TOO_LARGE = {"413": _error("the body is larger than 1 MiB")}
INVALID = {
    "422": _error(
        "invalid_message_format: the body is not an object of the documented shape (wrong "
        "types, missing or unknown fields, values out of bounds) or an id is not a UUID"
    )
}
ROOM_DENIED = {"403": _error("room_access_denied: the caller may not do this in that room")}
ROOM_MISSING = {"404": _error("not_found: no such room")}
WITH_BODY = {**BAD_JSON, **TOO_LARGE, **INVALID}


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, list[str]]] = SECURED,
    body: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": security,
        "responses": dict(sorted(responses.items())),
    }
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = _body(body)
    return operation


def _paths() -> dict[str, Any]:
    from app.http.openapi_files import files_paths
    from app.http.openapi_readstate import paths as readstate_paths

    return {**_core_paths(), **readstate_paths(), **files_paths()}


def _core_paths() -> dict[str, Any]:
    seq_param = {"type": "integer"}
    history_params = [
        ROOM_ID,
        {
            "name": "after_seq",
            "in": "query",
            "required": False,
            "description": "only messages with a greater seq (the oldest of them first)",
            "schema": seq_param,
        },
        {
            "name": "before_seq",
            "in": "query",
            "required": False,
            "description": "only messages with a smaller seq (the newest of them)",
            "schema": seq_param,
        },
        {
            "name": "after_rev",
            "in": "query",
            "required": False,
            "description": "only messages changed after this rev (edited, deleted, boosted), "
            "ascending by rev (with after_seq or before_seq: only those between them)",
            "schema": seq_param,
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"at most this many; above {HISTORY_MAX_LIMIT} counts as "
            f"{HISTORY_MAX_LIMIT}; below 1 is 422",
            "schema": {"type": "integer", "minimum": 1, "default": HISTORY_DEFAULT_LIMIT},
        },
    ]
    rate_limited = {
        "description": "rate_limit_exceeded: over the per-user message rate",
        "headers": {
            "Retry-After": {
                "description": "seconds to wait before retrying",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        },
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    from app.http.openapi_lifecycle import lifecycle_paths  # it builds on this module

    return {
        **lifecycle_paths(),
        "/api/session": {
            "post": _operation(
                "login",
                "Log in: trade an email address and password for a bearer token",
                "sessions",
                {
                    "201": _json("SessionCreated", "logged in"),
                    **WITH_BODY,
                    "401": _error("auth_failed: wrong email address or password"),
                },
                security=PUBLIC,
                body="LoginIn",
            ),
            "delete": _operation(
                "logout",
                "Log out: the token stops working at once and its sockets are closed",
                "sessions",
                {"204": {"description": "logged out"}, **UNAUTHORIZED},
            ),
        },
        "/api/me": {
            "get": _operation(
                "me",
                "The signed-in user",
                "users",
                {"200": _json("UserEnvelope", "the caller"), **UNAUTHORIZED},
            )
        },
        "/api/users": {
            "get": _operation(
                "listUsers",
                "Every active user (for choosing room members)",
                "users",
                {"200": _json("UserList", "users by name"), **UNAUTHORIZED},
            ),
            "post": _operation(
                "createUser",
                "Create a user (admins only)",
                "users",
                {
                    "201": _json("UserEnvelope", "created"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    "403": _error("forbidden: the caller is not an admin"),
                    "409": _error("conflict: the email address is taken"),
                },
                body="CreateUserIn",
            ),
        },
        "/api/rooms": {
            "get": _operation(
                "listRooms",
                "The caller's rooms, the most recently active first",
                "rooms",
                {"200": _json("RoomList", "rooms the caller belongs to"), **UNAUTHORIZED},
            ),
            "post": _operation(
                "createRoom",
                "Create a room; the creator is a member",
                "rooms",
                {
                    "201": _json("RoomEnvelope", "created"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    "409": _error("conflict: a member_ids entry is not a user"),
                },
                body="CreateRoomIn",
                description="The creator is always a member; a direct room's members are "
                "fixed from then on (a direct room of the creator alone is a notes-to-self room).",
            ),
        },
        "/api/rooms/{room_id}": {
            "get": _operation(
                "getRoom",
                "A room with its members (open rooms: anyone; others: members only)",
                "rooms",
                {
                    "200": _json("RoomEnvelope", "the room"),
                    **INVALID,
                    **UNAUTHORIZED,
                    **ROOM_DENIED,
                    **ROOM_MISSING,
                },
                parameters=[ROOM_ID],
            ),
            "patch": _operation(
                "updateRoom",
                "Rename a room (its creator or an admin)",
                "rooms",
                {
                    "200": _json("RoomEnvelope", "the room as it is now"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    "403": _error(
                        "room_access_denied (not a member) or forbidden (a member who is "
                        "neither the creator nor an admin)"
                    ),
                    **ROOM_MISSING,
                },
                parameters=[ROOM_ID],
                body="UpdateRoomIn",
            ),
        },
        "/api/rooms/{room_id}/members": {
            "post": _operation(
                "addMember",
                "Add a member (anyone may add themselves to an open room)",
                "rooms",
                {
                    "200": _json("RoomEnvelope", "already a member; nothing changed"),
                    "201": _json("RoomEnvelope", "added"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    "403": _error(
                        "room_access_denied (not a member of a closed or direct room) or "
                        "forbidden (not the creator or an admin; a direct room's members)"
                    ),
                    **ROOM_MISSING,
                    "409": _error("conflict: user_id is not a user"),
                },
                parameters=[ROOM_ID],
                body="AddMemberIn",
            ),
        },
        "/api/rooms/{room_id}/members/{user_id}": {
            "delete": _operation(
                "removeMember",
                "Remove a member, or leave (any member may leave a room that is not direct)",
                "rooms",
                {
                    "204": {"description": "removed (or was not a member)"},
                    **INVALID,
                    **UNAUTHORIZED,
                    "403": _error(
                        "room_access_denied (not a member) or forbidden (not the creator or "
                        "an admin; a direct room's members are fixed)"
                    ),
                    **ROOM_MISSING,
                },
                parameters=[ROOM_ID, _path_id("user_id", "the member's user id")],
            ),
        },
        "/api/rooms/{room_id}/messages": {
            "get": _operation(
                "listMessages",
                "Message history, ascending by seq (the polling fallback)",
                "messages",
                {
                    "200": _json("MessageList", "messages ascending by seq"),
                    **INVALID,
                    **UNAUTHORIZED,
                    **ROOM_DENIED,
                    **ROOM_MISSING,
                },
                parameters=history_params,
                description="`after_seq`: the `limit` oldest messages after it; `before_seq`: "
                "the `limit` newest before it; both: those strictly between (the oldest "
                "first); neither: the latest `limit`. `after_rev`: the `limit` messages changed "
                "after that rev, ascending by rev (each in its current state).",
            ),
            "post": _operation(
                "postMessage",
                "Send a message (members only); answered after it is committed",
                "messages",
                {
                    "200": _json(
                        "MessageEnvelope",
                        "a resend of a known client_message_id: the first message, unchanged",
                    ),
                    "201": _json("MessageEnvelope", "stored and broadcast"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    **ROOM_DENIED,
                    **ROOM_MISSING,
                    "409": _error(
                        "conflict: the client_message_id was used for another room or content"
                    ),
                    "429": rate_limited,
                },
                parameters=[ROOM_ID],
                body="PostMessageIn",
            ),
        },
        "/api/rooms/{room_id}/presence": {
            "get": _operation(
                "roomPresence",
                "Who of a room's members is online and recently active",
                "presence",
                {
                    "200": _json("Presence", "user ids"),
                    **INVALID,
                    **UNAUTHORIZED,
                    **ROOM_DENIED,
                    **ROOM_MISSING,
                },
                parameters=[ROOM_ID],
            ),
        },
        "/healthz": {
            "get": _operation(
                "health",
                "Whether the database (and Redis, where configured) answer",
                "operations",
                {
                    "200": _json("Health", "healthy"),
                    "503": _json("Health", "a dependency does not answer"),
                },
                security=PUBLIC,
            ),
        },
        "/metrics": {
            "get": _operation(
                "metrics",
                "Prometheus metrics",
                "operations",
                {
                    "200": {
                        "description": "Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": _error("CAMPFIRE_METRICS_TOKEN is set; not that bearer token"),
                    "404": _error("CAMPFIRE_METRICS_ADDRESS is set: served there instead"),
                },
                security=PUBLIC,
            ),
        },
        "/api/openapi.json": {
            "get": _operation(
                "openapi",
                "This document",
                "operations",
                {
                    "200": {
                        "description": "the OpenAPI 3.1 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
                security=PUBLIC,
            ),
        },
    }


def _version() -> str:
    try:
        return metadata.version("campfire")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0.0.0"


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        for path, item in part.items():
            merged.setdefault(path, {}).update(item)
    return merged


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Campfire HTTP API",
            "version": _version(),
            "description": "Team chat. Every error answer is JSON `{error, code}`. "
            "See docs/api.md and PROTOCOL.md section 7.",
        },
        "servers": [{"url": "/"}],
        "paths": _merge(_paths(), openapi_people.paths(sys.modules[__name__])),
        "components": {
            "schemas": _components(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token from POST /api/session",
                }
            },
        },
    }


@cache
def _document_bytes() -> bytes:
    return orjson.dumps(openapi_document())


async def openapi_json(_: web.Request) -> web.Response:
    return web.Response(body=_document_bytes(), content_type="application/json")
