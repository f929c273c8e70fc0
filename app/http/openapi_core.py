"""The OpenAPI paths of the core routes (sessions, users, rooms, messages, presence,
operations) in app/http/routes.py, merged into app/http/openapi.py."""

from __future__ import annotations

from typing import Any

from app.http.openapi import (
    INVALID,
    PUBLIC,
    ROOM_DENIED,
    ROOM_ID,
    ROOM_MISSING,
    UNAUTHORIZED,
    WITH_BODY,
    _error,
    _json,
    _operation,
    _path_id,
    _ref,
)
from app.services.messages import HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT


def core_paths() -> dict[str, Any]:
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
