"""The OpenAPI operations of bots (PROTOCOL.md 9.6, app/http/people.py), merged into the
document through app/http/openapi_people.py."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.schemas import MAX_CONTENT_LENGTH, NON_BLANK_PATTERN, UserOut


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bot(_Envelope):
    user: UserOut
    webhook_url: str | None


class BotWithKey(_Envelope):
    user: UserOut
    webhook_url: str | None
    bot_key: str


class BotList(_Envelope):
    bots: list[Bot]


def bots_paths(h: Any, admin_only: dict[str, Any]) -> dict[str, Any]:
    """`h` is app.http.openapi (its building blocks), passed in to avoid an import cycle."""
    op, js, err = h._operation, h._json, h._error
    bot_id = h._path_id("bot_id", "the bot's id")
    no_bot = {"404": err("not_found: no such bot")}
    return {
        "/api/bots": {
            "get": op(
                "listBots",
                "Every bot (admins only)",
                "bots",
                {"200": js("BotList", "bots by name"), **h.UNAUTHORIZED, **admin_only},
            ),
            "post": op(
                "createBot",
                "Create a bot (admins only); its key is shown only now",
                "bots",
                {
                    "201": js("BotWithKey", "created"),
                    **h.BAD_JSON,
                    **h.TOO_LARGE,
                    "422": err(
                        "invalid_message_format: a bad body, or a webhook_url that is not "
                        "http(s) or points at a loopback or private address"
                    ),
                    **h.UNAUTHORIZED,
                    **admin_only,
                },
                body="CreateBotIn",
            ),
        },
        "/api/bots/{bot_id}": {
            "patch": op(
                "updateBot",
                'Rename a bot or change its webhook_url ("" removes it)',
                "bots",
                {
                    "200": js("Bot", "the bot as it is now"),
                    **h.BAD_JSON,
                    **h.TOO_LARGE,
                    "422": err("invalid_message_format: a bad body or webhook_url"),
                    **h.UNAUTHORIZED,
                    **admin_only,
                    **no_bot,
                },
                parameters=[bot_id],
                body="UpdateBotIn",
            ),
            "delete": op(
                "deleteBot",
                "Delete a bot: deactivated, its key void, its messages kept",
                "bots",
                {
                    "204": {"description": "deleted"},
                    **h.INVALID,
                    **h.UNAUTHORIZED,
                    **admin_only,
                    **no_bot,
                },
                parameters=[bot_id],
            ),
        },
        "/api/bots/{bot_id}/key": {
            "post": op(
                "rotateBotKey",
                "A new key for a bot; the old one stops working",
                "bots",
                {
                    "200": js("BotWithKey", "the new key"),
                    **h.INVALID,
                    **h.UNAUTHORIZED,
                    **admin_only,
                    **no_bot,
                },
                parameters=[bot_id],
            ),
        },
        "/api/bots/{bot_key}/rooms/{room_id}/messages": {
            "post": op(
                "botPost",
                "Post as a bot, by its key: JSON {content} or plain text",
                "bots",
                {
                    "200": js("MessageEnvelope", "a resend (never for bots: no client id)"),
                    "201": js("MessageEnvelope", "stored and broadcast"),
                    **h.WITH_BODY,
                    "403": err("room_access_denied: the bot is not in that room"),
                    "404": err("not_found: no bot with that key, or no such room"),
                    "429": err("rate_limit_exceeded: over the message rate"),
                },
                security=h.PUBLIC,
                parameters=[
                    {
                        "name": "bot_key",
                        "in": "path",
                        "required": True,
                        "description": "the bot's key",
                        "schema": {"type": "string", "minLength": 1},
                    },
                    h.ROOM_ID,
                ],
                description="The bot joins an open room it is not in; other rooms need it "
                "added as a member.",
            )
            | {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": h._ref("BotPostIn")},
                        "text/plain": {
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": MAX_CONTENT_LENGTH,
                                "pattern": NON_BLANK_PATTERN,
                            }
                        },
                    },
                }
            },
        },
    }
