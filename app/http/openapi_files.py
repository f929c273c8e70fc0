"""The OpenAPI part of files and search (PROTOCOL.md 9.4, 9.5), merged into app/http/openapi.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.http.openapi import (
    INVALID,
    ROOM_DENIED,
    ROOM_ID,
    ROOM_MISSING,
    UNAUTHORIZED,
    UUID_SCHEMA,
    _Envelope,
    _error,
    _json,
    _operation,
    _path_id,
)
from app.schemas import NON_BLANK_PATTERN, AttachmentOut, MessageOut
from app.services.search import MAX_QUERY_LENGTH, SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT


class SearchRoom(_Envelope):
    id: str
    name: str
    kind: Literal["open", "closed", "direct"]


def _whole(schema: dict[str, Any]) -> None:
    # Dumped whole like MessageOut: every field present, nothing else.
    schema["additionalProperties"] = False
    schema["required"] = list(schema["properties"])


class SearchHit(MessageOut):
    """A message as everywhere else, plus the room it is in."""

    model_config = ConfigDict(json_schema_extra=_whole)

    room: SearchRoom


class SearchResults(_Envelope):
    messages: list[SearchHit]


class AttachmentEnvelope(_Envelope):
    attachment: AttachmentOut


FILES_OUTBOUND: list[type[BaseModel]] = [
    SearchRoom,
    SearchHit,
    SearchResults,
    AttachmentEnvelope,
    AttachmentOut,
]


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def files_paths() -> dict[str, Any]:
    search_params = [
        _query(
            "q",
            "words (all must match), `\"a phrase\"`, `prefix*`; anything else is taken as text",
            {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH,
             "pattern": NON_BLANK_PATTERN},
            required=True,
        ),
        _query("room_id", "only this room", UUID_SCHEMA),
        _query(
            "limit",
            f"at most this many; above {SEARCH_MAX_LIMIT} counts as {SEARCH_MAX_LIMIT}; "
            "below 1 is 422",
            {"type": "integer", "minimum": 1, "default": SEARCH_DEFAULT_LIMIT},
        ),
        _query("before_id", "only messages stored before this one (the next page)", UUID_SCHEMA),
    ]  # fmt: skip
    attachment_id = _path_id("attachment_id", "the attachment's id")
    variant = {
        "name": "variant",
        "in": "path",
        "required": True,
        "description": "`original` or `thumbnail` (images only); anything else is 404",
        "schema": {"type": "string", "enum": ["original", "thumbnail"]},
    }
    signed = [
        _query("expires", "from a signed `url`: when it stops working (Unix seconds)",
               {"type": "string", "pattern": "^[0-9]{1,12}$"}),
        _query("signature", "from a signed `url`",
               {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}),
    ]  # fmt: skip
    file_missing = _error("not_found: no such attachment (or not one the caller may see)")
    return {
        "/api/rooms/{room_id}/attachments": {
            "post": {
                **_operation(
                    "uploadAttachment",
                    "Upload a file to a room (members only); send it with a message's "
                    "attachment_ids",
                    "files",
                    {
                        "201": _json(
                            "AttachmentEnvelope",
                            "stored; images come with width, "
                            "height and thumbnail_url once their thumbnail is made",
                        ),
                        "400": _error("the multipart body cannot be read"),
                        "413": _error("the file is larger than CAMPFIRE_MAX_UPLOAD_MB (25)"),
                        **INVALID,
                        **UNAUTHORIZED,
                        **ROOM_DENIED,
                        **ROOM_MISSING,
                    },
                    parameters=[ROOM_ID],
                    description="multipart/form-data with the file in the field `file`. Its "
                    "type is read from its bytes; the client's Content-Type is ignored.",
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                                "required": ["file"],
                                "additionalProperties": False,
                            }
                        }
                    },
                },
            }
        },
        "/api/attachments/{attachment_id}": {
            "get": _operation(
                "getAttachment",
                "An attachment's description, with fresh signed URLs",
                "files",
                {
                    "200": _json("AttachmentEnvelope", "the attachment"),
                    **INVALID,
                    **UNAUTHORIZED,
                    **ROOM_DENIED,
                    "404": file_missing,
                },
                parameters=[attachment_id],
            )
        },
        "/api/attachments/{attachment_id}/{variant}": {
            "get": _operation(
                "downloadAttachment",
                "A file: with a valid signed URL, or a bearer token of someone who may read "
                "its room",
                "files",
                {
                    "200": {
                        "description": "the file, with its stored type, "
                        "`X-Content-Type-Options: nosniff`, and `Content-Disposition: "
                        "attachment` unless it is a PNG, JPEG, GIF or WebP image",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "401": _error("no signature and no token"),
                    "403": _error(
                        "forbidden: the signature is wrong or expired; or "
                        "room_access_denied for the token's user"
                    ),
                    **INVALID,
                    "404": file_missing,
                },
                security=[{"bearerAuth": []}, {}],
                parameters=[attachment_id, variant, *signed],
            )
        },
        "/api/search": {
            "get": _operation(
                "search",
                "Full-text search over the rooms the caller may read, newest first",
                "search",
                {
                    "200": _json("SearchResults", "matching messages, each with its room"),
                    **INVALID,
                    **UNAUTHORIZED,
                    **ROOM_DENIED,
                    "404": _error("not_found: no such room, or no such before_id message"),
                },
                parameters=search_params,
                description="Tombstones never match. A query without any word (only "
                "punctuation or symbols) matches nothing.",
            )
        },
    }
