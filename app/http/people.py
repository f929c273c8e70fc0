"""HTTP handlers of PROTOCOL.md 9.3 and 9.6: first run, join links, the room directory,
room deletion, profiles and avatars, admin actions, bots. Thin: the rules are in services."""

from __future__ import annotations

from aiohttp import web

from app.errors import invalid
from app.http.routes import body, json, path_id, principal, services_key
from app.http.static import index
from app.net import client_ip
from app.schemas import (
    UserOut,
    parse,
    wire,
)
from app.schemas_people import (
    BotPostIn,
    CreateBotIn,
    SignUpIn,
    UpdateBotIn,
    UpdateMeIn,
    UpdateUserIn,
)
from app.services.avatars import MAX_AVATAR_BYTES, TooLarge

# ---- first run and join links -------------------------------------------------------


async def setup_status(request: web.Request) -> web.Response:
    return json({"needed": await request.app[services_key].onboarding.setup_needed()})


async def setup(request: web.Request) -> web.Response:
    data = await body(request, SignUpIn)
    token, user = await request.app[services_key].onboarding.setup(
        name=data.name, email_address=data.email_address, password=data.password
    )
    return json({"token": token, "user": wire(UserOut.of(user))}, status=201)


def _join_answer(request: web.Request, code: str) -> web.Response:
    return json({"code": code, "url": f"{request.scheme}://{request.host}/join/{code}"})


async def get_join_code(request: web.Request) -> web.Response:
    actor = await principal(request)
    return _join_answer(request, await request.app[services_key].onboarding.join_code(actor))


async def rotate_join_code(request: web.Request) -> web.Response:
    actor = await principal(request)
    code = await request.app[services_key].onboarding.rotate_join_code(actor)
    return _join_answer(request, code)


async def join(request: web.Request) -> web.Response:
    data = await body(request, SignUpIn)
    token, user = await request.app[services_key].onboarding.join(
        request.match_info["code"],
        name=data.name,
        email_address=data.email_address,
        password=data.password,
    )
    return json({"token": token, "user": wire(UserOut.of(user))}, status=201)


# ---- rooms --------------------------------------------------------------------------


async def open_rooms(request: web.Request) -> web.Response:
    actor = await principal(request)
    rooms = await request.app[services_key].rooms.open_rooms(actor)
    return json({"rooms": [wire(room) for room in rooms]})


async def delete_room(request: web.Request) -> web.Response:
    actor = await principal(request)
    await request.app[services_key].rooms.delete(actor, path_id(request, "room_id"))
    return web.Response(status=204)


# ---- profile and avatars ------------------------------------------------------------


async def update_me(request: web.Request) -> web.Response:
    actor = await principal(request)
    data = await body(request, UpdateMeIn)
    user = await request.app[services_key].people.update_me(
        actor,
        name=data.name,
        email_address=data.email_address,
        password=data.password,
        current_password=data.current_password,
    )
    return json({"user": wire(user)})


async def _upload(request: web.Request) -> bytes:
    """The image: the whole body, or the first file of a multipart form."""
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if getattr(part, "filename", None) is not None or part.name in ("file", "avatar"):
                return await _read_limited(part)  # type: ignore[arg-type]
        raise invalid("the form has no file")
    return await _read_limited(request.content)


async def _read_limited(stream: object) -> bytes:
    # A form's part reads by read_chunk, a plain body by read.
    read = getattr(stream, "read_chunk", None) or stream.read  # type: ignore[attr-defined]
    data = bytearray()
    while chunk := await read(64 * 1024):
        data += chunk
        if len(data) > MAX_AVATAR_BYTES:
            raise TooLarge()
    return bytes(data)


async def put_avatar(request: web.Request) -> web.Response:
    actor = await principal(request)
    if request.content_length is not None and request.content_length > MAX_AVATAR_BYTES + 65536:
        raise TooLarge()
    user = await request.app[services_key].people.set_avatar(actor, await _upload(request))
    return json({"user": wire(user)})


async def delete_avatar(request: web.Request) -> web.Response:
    actor = await principal(request)
    user = await request.app[services_key].people.remove_avatar(actor)
    return json({"user": wire(user)})


async def get_avatar(request: web.Request) -> web.StreamResponse:
    user_id = path_id(request, "user_id")
    picture = await request.app[services_key].people.avatar(user_id)
    etag = f'"{picture.etag}"'
    # The URL carries the version, so a current one may be kept; others are revalidated.
    current = request.query.get("v") == picture.etag[:16] or (
        picture.etag.startswith("i") and request.query.get("v", "").startswith("i")
    )
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=86400" if current else "no-cache",
        "X-Content-Type-Options": "nosniff",
        # An SVG opened directly must not run anything.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=picture.body, content_type=picture.content_type, headers=headers)


# ---- admin --------------------------------------------------------------------------


async def update_user(request: web.Request) -> web.Response:
    actor = await principal(request)
    user_id = path_id(request, "user_id")
    data = await body(request, UpdateUserIn)
    user = await request.app[services_key].people.set_role(actor, user_id, data.role)
    return json({"user": wire(user)})


async def deactivate_user(request: web.Request) -> web.Response:
    actor = await principal(request)
    await request.app[services_key].people.deactivate(actor, path_id(request, "user_id"))
    return web.Response(status=204)


# ---- bots ---------------------------------------------------------------------------


def _bot_answer(bot: object, key: str | None = None) -> dict[str, object]:
    user = wire(UserOut.of(bot))  # type: ignore[arg-type]
    answer: dict[str, object] = {"user": user, "webhook_url": getattr(bot, "webhook_url", None)}
    if key is not None:
        answer["bot_key"] = key
    return answer


async def list_bots(request: web.Request) -> web.Response:
    actor = await principal(request)
    bots = await request.app[services_key].bots.list(actor)
    return json({"bots": [_bot_answer(bot) for bot in bots]})


async def create_bot(request: web.Request) -> web.Response:
    actor = await principal(request)
    data = await body(request, CreateBotIn)
    bot, key = await request.app[services_key].bots.create(
        actor, name=data.name, webhook_url=data.webhook_url
    )
    return json(_bot_answer(bot, key), status=201)


async def update_bot(request: web.Request) -> web.Response:
    actor = await principal(request)
    bot_id = path_id(request, "bot_id")
    data = await body(request, UpdateBotIn)
    bot = await request.app[services_key].bots.update(
        actor, bot_id, name=data.name, webhook_url=data.webhook_url
    )
    return json(_bot_answer(bot))


async def rotate_bot_key(request: web.Request) -> web.Response:
    actor = await principal(request)
    bot, key = await request.app[services_key].bots.rotate_key(actor, path_id(request, "bot_id"))
    return json(_bot_answer(bot, key))


async def delete_bot(request: web.Request) -> web.Response:
    actor = await principal(request)
    await request.app[services_key].bots.delete(actor, path_id(request, "bot_id"))
    return web.Response(status=204)


async def bot_post(request: web.Request) -> web.Response:
    room_id = path_id(request, "room_id")
    if request.content_type == "application/json":
        content = (await body(request, BotPostIn)).content
    else:
        raw = await request.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid("the body must be UTF-8 text or JSON {content}") from None
        content = parse(BotPostIn, {"content": text}).content
    result = await request.app[services_key].bots.post(
        request.match_info["bot_key"], room_id, content
    )
    return json({"message": wire(result.message)}, status=201 if result.created else 200)


# ---- wiring -------------------------------------------------------------------------


def login_ip(request: web.Request) -> str:
    return client_ip(request, request.app[services_key].settings.trusted_proxy_networks)


def setup_people_routes(app: web.Application) -> None:
    """Registered before `/api/rooms/{room_id}`, so that `/api/rooms/open` is not read as
    a room id."""
    r = app.router
    r.add_get("/api/setup", setup_status)
    r.add_post("/api/setup", setup)
    r.add_get("/api/account/join_code", get_join_code)
    r.add_post("/api/account/join_code", rotate_join_code)
    r.add_post("/api/join/{code}", join)
    r.add_get("/api/rooms/open", open_rooms)
    r.add_delete("/api/rooms/{room_id}", delete_room)
    r.add_patch("/api/me", update_me)
    r.add_put("/api/me/avatar", put_avatar)
    r.add_delete("/api/me/avatar", delete_avatar)
    r.add_get("/api/users/{user_id}/avatar", get_avatar)
    r.add_patch("/api/users/{user_id}", update_user)
    r.add_delete("/api/users/{user_id}", deactivate_user)
    r.add_get("/api/bots", list_bots)
    r.add_post("/api/bots", create_bot)
    r.add_patch("/api/bots/{bot_id}", update_bot)
    r.add_delete("/api/bots/{bot_id}", delete_bot)
    r.add_post("/api/bots/{bot_id}/key", rotate_bot_key)
    r.add_post("/api/bots/{bot_key}/rooms/{room_id}/messages", bot_post)
    # The UI's own pages: a join link opens the app, which shows the sign-up form.
    r.add_get("/join/{code}", index)
