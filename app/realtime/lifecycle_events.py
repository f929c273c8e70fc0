"""Socket events that change sent messages (PROTOCOL.md 9.1); a thin adapter like gateway.py.

Each ack is `{type: "MessageUpdated", data: {room_id, rev, message}}`, the same payload the
room's connections get (the actor's socket included); failures go through the gateway's
`Error` handling.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.schemas import AddBoostIn, EditMessageIn, MessageRef, RemoveBoostIn, parse
from app.services import Principal, Services
from app.services.lifecycle import Change

Handler = Callable[[Principal, Any], Awaitable[dict[str, Any]]]


def _ack(change: Change) -> dict[str, Any]:
    return {"type": "MessageUpdated", "data": change.update()}


def lifecycle_handlers(services: Services) -> dict[str, Handler]:
    lifecycle = services.lifecycle

    async def edit(actor: Principal, payload: Any) -> dict[str, Any]:
        data = parse(EditMessageIn, payload)
        return _ack(
            await lifecycle.edit(
                actor, data.message_id, data.content, data.mention_ids, room_id=data.room_id
            )
        )

    async def delete(actor: Principal, payload: Any) -> dict[str, Any]:
        data = parse(MessageRef, payload)
        return _ack(await lifecycle.delete(actor, data.message_id, room_id=data.room_id))

    async def add_boost(actor: Principal, payload: Any) -> dict[str, Any]:
        data = parse(AddBoostIn, payload)
        return _ack(
            await lifecycle.add_boost(actor, data.message_id, data.content, room_id=data.room_id)
        )

    async def remove_boost(actor: Principal, payload: Any) -> dict[str, Any]:
        data = parse(RemoveBoostIn, payload)
        return _ack(
            await lifecycle.remove_boost(
                actor, data.message_id, data.boost_id, room_id=data.room_id
            )
        )

    return {
        "EditMessage": edit,
        "DeleteMessage": delete,
        "AddBoost": add_boost,
        "RemoveBoost": remove_boost,
    }
