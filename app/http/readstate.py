"""HTTP handlers of read state, involvement and Web Push (PROTOCOL.md section 9.2)."""

from __future__ import annotations

from aiohttp import web

from app.http.routes import body, json, path_id, principal, services_key
from app.schemas import wire
from app.schemas_readstate import MembershipIn, PushSubscriptionIn, PushUnsubscribeIn, ReadIn


async def mark_read(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    data = await body(request, ReadIn)
    read = await request.app[services_key].readstate.mark_read(actor, room_id, data.seq)
    return json(wire(read))


async def update_membership(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    data = await body(request, MembershipIn)
    room = await request.app[services_key].readstate.set_involvement(
        actor, room_id, data.involvement
    )
    return json({"room": wire(room)})


async def vapid_public_key(request: web.Request) -> web.Response:
    # Public: a browser needs it to subscribe, and it is the public half of the pair.
    return json({"key": await request.app[services_key].push.public_key()})


async def subscribe(request: web.Request) -> web.Response:
    actor = await principal(request)
    data = await body(request, PushSubscriptionIn)
    created = await request.app[services_key].push.subscribe(
        actor, data.endpoint, data.keys.p256dh, data.keys.auth
    )
    return json({"endpoint": data.endpoint}, status=201 if created else 200)


async def unsubscribe(request: web.Request) -> web.Response:
    actor = await principal(request)
    data = await body(request, PushUnsubscribeIn)
    await request.app[services_key].push.unsubscribe(actor, data.endpoint)
    return web.Response(status=204)


def setup_readstate_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/push/vapid_public_key", vapid_public_key)
    r.add_post("/api/push/subscriptions", subscribe)
    r.add_delete("/api/push/subscriptions", unsubscribe)
    r.add_post("/api/rooms/{room_id}/read", mark_read)
    r.add_patch("/api/rooms/{room_id}/membership", update_membership)
