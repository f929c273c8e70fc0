"""HTTP handlers for changing messages (PROTOCOL.md 9.1). The rules live in
`app.services.lifecycle`; these parse, call it and shape the answer."""

from __future__ import annotations

from aiohttp import web

from app.http.routes import body, json, path_id, principal, services_key
from app.schemas import BoostBody, EditMessageBody, wire


async def edit_message(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    message_id = path_id(request, "message_id")
    data = await body(request, EditMessageBody)
    change = await request.app[services_key].lifecycle.edit(
        actor, message_id, data.content, data.mention_ids, room_id=room_id
    )
    return json({"message": wire(change.message)})


async def delete_message(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    message_id = path_id(request, "message_id")
    await request.app[services_key].lifecycle.delete(actor, message_id, room_id=room_id)
    return web.Response(status=204)


async def add_boost(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    message_id = path_id(request, "message_id")
    data = await body(request, BoostBody)
    change = await request.app[services_key].lifecycle.add_boost(
        actor, message_id, data.content, room_id=room_id
    )
    assert change.boost is not None
    answer = {"boost": wire(change.boost), "message": wire(change.message)}
    return json(answer, status=201 if change.changed else 200)


async def remove_boost(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    message_id = path_id(request, "message_id")
    boost_id = path_id(request, "boost_id")
    await request.app[services_key].lifecycle.remove_boost(
        actor, message_id, boost_id, room_id=room_id
    )
    return web.Response(status=204)


def setup_lifecycle_routes(app: web.Application) -> None:
    r = app.router
    message = "/api/rooms/{room_id}/messages/{message_id}"
    r.add_patch(message, edit_message)
    r.add_delete(message, delete_message)
    r.add_post(message + "/boosts", add_boost)
    r.add_delete(message + "/boosts/{boost_id}", remove_boost)
