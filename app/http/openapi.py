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
    # Only in a room too big for live presence: false (docs/protocol-notes.md).
    live: bool | None = None


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
        if issubclass(model, RoomOut):
            # A room has member_ids or, above CAMPFIRE_ROOM_MEMBER_IDS_MAX, member_count.
            schema["required"] = [
                name for name in schema["required"] if name not in ("member_ids", "member_count")
            ]
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
    from app.http.openapi_core import core_paths
    from app.http.openapi_files import files_paths
    from app.http.openapi_readstate import paths as readstate_paths

    return {**core_paths(), **readstate_paths(), **files_paths()}


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
