"""HTTP handlers: parse, call the domain layer, shape the answer. No rules live here."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel

from app.errors import CampfireError, ErrorCode, invalid
from app.http.bodies import read_body
from app.http.errors import BadRequest, json_errors
from app.http.openapi import openapi_json
from app.http.security import metrics_response, serve_metrics_apart, setup_security
from app.http.static import setup_static
from app.net import client_ip
from app.schemas import (
    AddMemberIn,
    CreateRoomIn,
    CreateUserIn,
    LoginIn,
    PostMessageIn,
    UpdateRoomIn,
    UserOut,
    is_uuid,
    parse,
    wire,
)
from app.services import Principal, Services
from app.services.live_presence import NOT_LIVE

# Each /healthz probe's bound (both run at once): the answer comes within a second.
HEALTH_TIMEOUT = 0.8

ModelT = TypeVar("ModelT", bound=BaseModel)
services_key = web.AppKey("http_services", Services)


def json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def body(request: web.Request, model: type[ModelT]) -> ModelT:
    raw = await read_body(request, request.app[services_key].settings.body_timeout_seconds)
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        # 400: the body cannot even be read; a readable body that breaks the rules is 422.
        raise BadRequest("the body is not valid JSON") from None
    return parse(model, data)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


async def principal(request: web.Request) -> Principal:
    token = bearer_token(request)
    if token is not None and not token.isascii():
        # Tokens are URL-safe base64; a header with other bytes (which aiohttp hands over as
        # surrogate escapes that cannot be hashed) is simply a wrong token.
        raise CampfireError(ErrorCode.auth_failed, "unknown session token")
    return await request.app[services_key].auth.authenticate(token)


def path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not is_uuid(value):
        raise invalid(f"{name} must be a UUID")
    return str(uuid.UUID(value))


_INTEGER = re.compile(r"-?[0-9]+")
# Seqs are 32-bit columns (PostgreSQL INTEGER); a cursor beyond them means "past the end",
# so it is clamped rather than sent to the database, where it would not fit the parameter.
SEQ_BOUND = 2**31 - 1


def query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    # Only plain decimal integers, as the OpenAPI document says; int() would also take
    # "1_000", " 5" and non-ASCII digits.
    if _INTEGER.fullmatch(value) is None:
        raise invalid(f"{name} must be an integer")
    if len(value.lstrip("-").lstrip("0")) > 12:
        # Beyond any seq or limit; also keeps int() away from strings of thousands of digits.
        return -SEQ_BOUND if value.startswith("-") else SEQ_BOUND
    return max(-SEQ_BOUND, min(SEQ_BOUND, int(value)))


# ---- sessions and users -------------------------------------------------------------


async def create_session(request: web.Request) -> web.Response:
    services = request.app[services_key]
    ip = client_ip(request, services.settings.trusted_proxy_networks)
    data = await body(request, LoginIn)
    token, user = await services.auth.login(data.email_address, data.password, ip=ip)
    return json({"token": token, "user": wire(UserOut.of(user))}, status=201)


async def delete_session(request: web.Request) -> web.Response:
    actor = await principal(request)
    await request.app[services_key].auth.logout(actor)
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    actor = await principal(request)
    return json({"user": wire(actor.user)})


async def create_user(request: web.Request) -> web.Response:
    actor = await principal(request)
    data = await body(request, CreateUserIn)
    user = await request.app[services_key].users.create(
        actor,
        name=data.name,
        email_address=data.email_address,
        password=data.password,
        role=data.role,
    )
    return json({"user": wire(UserOut.of(user))}, status=201)


async def list_users(request: web.Request) -> web.Response:
    await principal(request)
    users = await request.app[services_key].users.list_active()
    return json({"users": [wire(UserOut.of(u)) for u in users]})


# ---- rooms --------------------------------------------------------------------------


async def list_rooms(request: web.Request) -> web.Response:
    actor = await principal(request)
    rooms = await request.app[services_key].rooms.list_for(actor)
    return json({"rooms": [wire(r) for r in rooms]})


async def create_room(request: web.Request) -> web.Response:
    actor = await principal(request)
    data = await body(request, CreateRoomIn)
    room, created = await request.app[services_key].rooms.create_or_find(
        actor, name=data.name, kind=data.kind, member_ids=data.member_ids
    )
    # An existing direct room with the same members is answered instead (PROTOCOL.md 9.3).
    return json({"room": wire(room)}, status=201 if created else 200)


async def get_room(request: web.Request) -> web.Response:
    actor = await principal(request)
    rooms = request.app[services_key].rooms
    room = await rooms.require_readable(actor, path_id(request, "room_id"))
    return json({"room": wire(await rooms.describe(room))})


async def update_room(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    data = await body(request, UpdateRoomIn)
    room = await request.app[services_key].rooms.rename(
        actor, room_id, data.name, auto_join=data.auto_join
    )
    return json({"room": wire(room)})


async def add_member(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    data = await body(request, AddMemberIn)
    room, created = await request.app[services_key].rooms.add_member(actor, room_id, data.user_id)
    return json({"room": wire(room)}, status=201 if created else 200)


async def remove_member(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    user_id = path_id(request, "user_id")
    await request.app[services_key].rooms.remove_member(actor, room_id, user_id)
    return web.Response(status=204)


# ---- messages and presence ----------------------------------------------------------


async def list_messages(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    limit = query_int(request, "limit")
    after_rev = query_int(request, "after_rev")
    if after_rev is not None:
        # PROTOCOL.md 9.1: the messages changed after that rev, ascending by rev.
        changed = await request.app[services_key].lifecycle.changed_since(
            actor,
            room_id,
            after_rev,
            50 if limit is None else limit,
            after_seq=query_int(request, "after_seq"),
            before_seq=query_int(request, "before_seq"),
        )
        return json({"messages": [wire(m) for m in changed]})
    messages = await request.app[services_key].messages.history(
        actor,
        room_id,
        after_seq=query_int(request, "after_seq"),
        before_seq=query_int(request, "before_seq"),
        limit=50 if limit is None else limit,
    )
    return json({"messages": messages})


async def post_message(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    data = await body(request, PostMessageIn)
    result = await request.app[services_key].messages.send(
        actor,
        room_id,
        data.content,
        data.client_message_id,
        via="http",
        mention_ids=data.mention_ids,
        attachment_ids=data.attachment_ids or (),
    )
    return json({"message": wire(result.message)}, status=201 if result.created else 200)


async def room_presence(request: web.Request) -> web.Response:
    actor = await principal(request)
    found = await request.app[services_key].presence.room_presence(
        actor, path_id(request, "room_id")
    )
    body = {"online_users": found.online, "recently_active": found.recently_active}
    return json(body if found.live else {**body, **NOT_LIVE})


# ---- operations ---------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    services = request.app[services_key]
    # Both at once and each bounded: a frozen server (its TCP still accepting) must not hold
    # the answer back for the driver's timeouts; /healthz answers within a second.
    probes = {"database": services.db.ping()}
    ping_state = getattr(services.state, "ping", None)
    if ping_state is not None:
        probes["redis"] = ping_state()
    results = await asyncio.gather(*(_bounded(p) for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    healthy = all(checks.values())
    return json(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


async def _bounded(probe: Awaitable[bool]) -> bool:
    try:
        return await asyncio.wait_for(probe, HEALTH_TIMEOUT)
    except Exception:
        return False


async def metrics(request: web.Request) -> web.Response:
    services = request.app[services_key]
    if services.settings.metrics_address:
        raise web.HTTPNotFound()  # served on its own listener instead
    await services.push.refresh_metrics()  # deployment-wide push counters, from the state
    return metrics_response(request, services.settings, services.metrics.render)


def setup_routes(app: web.Application, services: Services) -> None:
    from app.http.lifecycle import setup_lifecycle_routes  # it imports this module

    app[services_key] = services
    app.middlewares.append(json_errors)
    r = app.router
    r.add_post("/api/session", create_session)
    r.add_delete("/api/session", delete_session)
    r.add_get("/api/me", me)
    r.add_post("/api/users", create_user)
    r.add_get("/api/users", list_users)
    r.add_get("/api/rooms", list_rooms)
    r.add_post("/api/rooms", create_room)
    from app.http.people import setup_people_routes  # it imports this module's helpers

    setup_people_routes(app)
    r.add_get("/api/rooms/{room_id}", get_room)
    r.add_patch("/api/rooms/{room_id}", update_room)
    r.add_post("/api/rooms/{room_id}/members", add_member)
    r.add_delete("/api/rooms/{room_id}/members/{user_id}", remove_member)
    r.add_get("/api/rooms/{room_id}/messages", list_messages)
    r.add_post("/api/rooms/{room_id}/messages", post_message)
    r.add_get("/api/rooms/{room_id}/presence", room_presence)
    setup_lifecycle_routes(app)
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics)
    r.add_get("/api/openapi.json", openapi_json)
    from app.http.readstate import setup_readstate_routes

    setup_readstate_routes(app)
    from app.http.attachments import setup_attachment_routes
    from app.http.search import setup_search_routes

    setup_search_routes(app)
    setup_attachment_routes(app)
    setup_static(app)
    setup_security(app)
    if services.settings.metrics_address:
        serve_metrics_apart(
            app, services.settings, services.metrics.render, services.push.refresh_metrics
        )
