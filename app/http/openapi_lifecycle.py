"""The OpenAPI paths of the message lifecycle routes (app.http.lifecycle, PROTOCOL.md 9.1)."""

from __future__ import annotations

from typing import Any

from app.http.openapi import (
    INVALID,
    ROOM_ID,
    UNAUTHORIZED,
    WITH_BODY,
    _error,
    _json,
    _operation,
    _path_id,
)

MESSAGE_ID = _path_id("message_id", "the message's id")
BOOST_ID = _path_id("boost_id", "the boost's id")
DENIED_OR_FORBIDDEN = _error(
    "room_access_denied (the caller is not a member of the room) or forbidden (not allowed "
    "to change this message or boost)"
)
MISSING = _error(
    "not_found: no such room, no such message in it (or a deleted one, for edits and boosts), "
    "or no such boost on it"
)


def lifecycle_paths() -> dict[str, Any]:
    message = "/api/rooms/{room_id}/messages/{message_id}"
    return {
        message: {
            "patch": _operation(
                "editMessage",
                "Edit a message (its creator only); answers the message as it now is",
                "messages",
                {
                    "200": _json("MessageEnvelope", "edited; MessageUpdated went to the room"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    "403": DENIED_OR_FORBIDDEN,
                    "404": MISSING,
                },
                parameters=[ROOM_ID, MESSAGE_ID],
                body="EditMessageBody",
                description="Content rules as for sending (empty content only for a message "
                "with attachments). `mention_ids` replaces the "
                "message's mentions when given (each a member of the room, else 422); absent "
                "or null keeps them. Every edit takes the room's next `rev`.",
            ),
            "delete": _operation(
                "deleteMessage",
                "Delete a message (its creator or an admin): it stays as a tombstone",
                "messages",
                {
                    "204": {
                        "description": "deleted (or already a tombstone); the message keeps "
                        "its seq with `deleted: true`, empty content, no boosts or attachments"
                    },
                    **INVALID,
                    **UNAUTHORIZED,
                    "403": DENIED_OR_FORBIDDEN,
                    "404": MISSING,
                },
                parameters=[ROOM_ID, MESSAGE_ID],
            ),
        },
        message + "/boosts": {
            "post": _operation(
                "addBoost",
                "Boost a message (any member): 1-16 characters, such as an emoji",
                "messages",
                {
                    "200": _json(
                        "BoostCreated",
                        "the caller had already boosted it with this content: nothing new",
                    ),
                    "201": _json("BoostCreated", "added; MessageUpdated went to the room"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    "403": DENIED_OR_FORBIDDEN,
                    "404": MISSING,
                },
                parameters=[ROOM_ID, MESSAGE_ID],
                body="BoostBody",
            ),
        },
        message + "/boosts/{boost_id}": {
            "delete": _operation(
                "removeBoost",
                "Remove a boost (its booster or an admin)",
                "messages",
                {
                    "204": {"description": "removed; MessageUpdated went to the room"},
                    **INVALID,
                    **UNAUTHORIZED,
                    "403": DENIED_OR_FORBIDDEN,
                    "404": MISSING,
                },
                parameters=[ROOM_ID, MESSAGE_ID, BOOST_ID],
            ),
        },
    }
