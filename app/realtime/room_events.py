"""Socket events that need only the caller, not its connection (sending, typing, leaving);
a thin adapter like gateway.py, which registers these into its handler table."""

from __future__ import annotations

import time
from typing import Any

from app.realtime.lifecycle_events import Handler
from app.schemas import NewMessageIn, RoomRef, parse
from app.services import Principal, Services


def room_handlers(services: Services) -> dict[str, Handler]:
    async def new_message(actor: Principal, payload: Any) -> dict[str, Any]:
        started = time.perf_counter()
        data = parse(NewMessageIn, payload)
        result = await services.messages.send(
            actor,
            data.room_id,
            data.content,
            data.client_message_id,
            via="socket",
            mention_ids=data.mention_ids,
            attachment_ids=data.attachment_ids or (),
        )
        services.metrics.ack_latency.observe(time.perf_counter() - started)
        return {
            "type": "MessageDelivered",
            "data": {
                "client_message_id": data.client_message_id,
                "message_id": result.message.id,
                "seq": result.message.seq,
            },
        }

    async def typing_start(actor: Principal, payload: Any) -> dict[str, Any]:
        data = parse(RoomRef, payload)
        await services.typing.start(actor.user_id, data.room_id)
        return {"type": "Ok", "data": {"room_id": data.room_id}}

    async def typing_stop(actor: Principal, payload: Any) -> dict[str, Any]:
        data = parse(RoomRef, payload)
        await services.typing.client_stop(actor.user_id, data.room_id)
        return {"type": "Ok", "data": {"room_id": data.room_id}}

    async def leave_room(actor: Principal, payload: Any) -> dict[str, Any]:
        data = parse(RoomRef, payload)
        await services.rooms.remove_member(actor, data.room_id, actor.user_id)
        return {"type": "RoomLeft", "data": {"room_id": data.room_id}}

    return {
        "NewMessage": new_message,
        "TypingStart": typing_start,
        "TypingStop": typing_stop,
        "LeaveRoom": leave_room,
    }
