"""Bots (PROTOCOL.md 9.6): managing them, posting by key, and webhooks against a real local
HTTP server that the test starts."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from app.services import webhooks
from tests.support import ROOT, Api, Client, free_port, login, wait_for_metric


async def create_bot(admin: Api, name: str = "Robo", **extra: Any) -> dict[str, Any]:
    _, data = await admin.call("POST", "/api/bots", {"name": name, **extra}, expect=201)
    return data


def bot_api(admin: Api, bot: dict[str, Any]) -> Api:
    return Api(admin.http, admin.base, bot["bot_key"], bot["user"])


async def bot_post(
    http: aiohttp.ClientSession, base: str, key: str, room_id: str, **kw: Any
) -> tuple[int, Any]:
    async with http.post(f"{base}/api/bots/{key}/rooms/{room_id}/messages", **kw) as response:
        return response.status, await response.json()


async def test_bot_management_is_for_admins(server, admin, user_factory, http) -> None:
    member = await user_factory("member")
    _, refused = await member.call("POST", "/api/bots", {"name": "Nope"}, expect=403)
    assert refused["code"] == "forbidden"
    bot = await create_bot(admin, "Helper")
    assert set(bot) == {"user", "webhook_url", "bot_key"}
    assert bot["user"]["role"] == "bot" and bot["user"]["avatar_url"]
    bot_id = bot["user"]["id"]
    _, listed = await admin.call("GET", "/api/bots", expect=200)
    assert bot_id in {b["user"]["id"] for b in listed["bots"]}
    await member.call("GET", "/api/bots", expect=403)
    _, renamed = await admin.call("PATCH", f"/api/bots/{bot_id}", {"name": "Helper 2"}, expect=200)
    assert renamed["user"]["name"] == "Helper 2"
    await member.call("PATCH", f"/api/bots/{bot_id}", {"name": "x"}, expect=403)
    # A bot cannot sign in with a password, and a person is not a bot.
    async with http.post(
        server.url + "/api/session",
        json={"email_address": bot["user"]["email_address"], "password": "!"},
    ) as response:
        assert response.status == 401
    await admin.call("POST", f"/api/bots/{member.id}/key", expect=404)
    await admin.call("DELETE", f"/api/bots/{member.id}", expect=404)

    room = await admin.create_room("bots welcome", "open")
    status, _ = await bot_post(http, server.url, bot["bot_key"], room["id"], json={"content": "hi"})
    assert status == 201
    _, rotated = await admin.call("POST", f"/api/bots/{bot_id}/key", expect=200)
    assert rotated["bot_key"] != bot["bot_key"]
    status, data = await bot_post(http, server.url, bot["bot_key"], room["id"], data="old key")
    assert (status, data["code"]) == (404, "not_found")
    status, _ = await bot_post(http, server.url, rotated["bot_key"], room["id"], data="new key")
    assert status == 201

    await admin.call("DELETE", f"/api/bots/{bot_id}", expect=204)
    status, _ = await bot_post(http, server.url, rotated["bot_key"], room["id"], data="gone")
    assert status == 404
    await admin.call("DELETE", f"/api/bots/{bot_id}", expect=404)
    # Its messages stay.
    assert [m["content"] for m in await admin.history(room["id"])] == ["hi", "new key"]


async def test_posting_by_key_json_text_and_bearer(server, admin, user_factory, http) -> None:
    bot = await create_bot(admin)
    bot_id, key = bot["user"]["id"], bot["bot_key"]
    person = await user_factory("person")
    open_room = await person.create_room("open", "open")
    closed = await person.create_room("closed", "closed")
    watcher = await Client(server.url).connect(auth={"token": person.token})
    try:
        await watcher.synced()
        status, data = await bot_post(http, server.url, key, open_room["id"], json={"content": "j"})
        assert status == 201 and data["message"]["creator_id"] == bot_id
        status, data = await bot_post(
            http,
            server.url,
            key,
            open_room["id"],
            data="plain text",
            headers={"Content-Type": "text/plain"},
        )
        assert status == 201 and data["message"]["content"] == "plain text"
        for content in ("j", "plain text"):
            seen = await watcher.wait_for(
                "NewMessage", lambda d, c=content: d["message"]["content"] == c
            )
            assert seen["message"]["creator_id"] == bot_id
        # Not a member of a closed room; bad bodies; an unknown room.
        status, data = await bot_post(http, server.url, key, closed["id"], json={"content": "x"})
        assert (status, data["code"]) == (403, "room_access_denied")
        status, data = await bot_post(http, server.url, key, open_room["id"], data="   ")
        assert (status, data["code"]) == (422, "invalid_message_format")
        status, data = await bot_post(http, server.url, key, open_room["id"], json={"x": 1})
        assert status == 422
        # Added to the closed room, it may post there.
        await person.call("POST", f"/api/rooms/{closed['id']}/members", {"user_id": bot_id})
        status, _ = await bot_post(http, server.url, key, closed["id"], data="in")
        assert status == 201
        # The key is a bearer token: HTTP and sockets.
        robot = bot_api(admin, bot)
        _, me = await robot.call("GET", "/api/me", expect=200)
        assert me["user"]["id"] == bot_id and me["user"]["role"] == "bot"
        socket = await Client(server.url).connect(auth={"token": key})
        try:
            welcome = await socket.wait_for("AuthSuccess")
            assert welcome["user"]["id"] == bot_id
        finally:
            await socket.close()
    finally:
        await watcher.close()


async def test_bots_post_under_the_message_rate(make_server, http) -> None:
    from tests.support import ADMIN_EMAIL

    server = make_server(CAMPFIRE_MESSAGE_RATE="2")
    admin = await login(http, server.url, ADMIN_EMAIL)
    bot = await create_bot(admin)
    room = await admin.create_room("rated", "open")
    statuses = [
        (await bot_post(http, server.url, bot["bot_key"], room["id"], data=f"m{i}"))[0]
        for i in range(3)
    ]
    assert statuses == [201, 201, 429]


async def test_webhooks_to_private_addresses_are_refused_without_the_setting(admin) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://10.1.2.3/x"):
        _, refused = await admin.call(
            "POST", "/api/bots", {"name": "Sneaky", "webhook_url": url}, expect=422
        )
        assert refused["code"] == "invalid_message_format"
    for url in ("ftp://example.com/x", "not a url"):
        await admin.call("POST", "/api/bots", {"name": "Odd", "webhook_url": url}, expect=422)
    bot = await create_bot(admin, "Plain")
    await admin.call(
        "PATCH", f"/api/bots/{bot['user']['id']}", {"webhook_url": "http://[::1]/"}, expect=422
    )


async def test_sending_refuses_private_addresses_at_send_time() -> None:
    # The check at send time, on the real resolver: a name resolving to loopback and a
    # loopback literal are both refused before any connection is made.
    for url in ("http://localhost:9/hook", "http://127.0.0.1:9/hook", "http://[::ffff:127.0.0.1]/"):
        outcome = await webhooks.post(url, {}, seconds=5, allow_private=False)
        assert outcome.kind == "refused", (url, outcome)


# ---- the round trip ------------------------------------------------------------------


class Hook:
    """A real HTTP server on 127.0.0.1 standing in for a bot's webhook."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.answer: Any = "pong"
        self.status = 200
        self.hang = asyncio.Event()  # set: answer; unset while `hanging`
        self.hanging = False
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(orjson.loads(await request.read()))
        self.arrived.set()
        if self.hanging:
            await self.hang.wait()
        if isinstance(self.answer, dict):
            return web.json_response(self.answer, status=self.status)
        return web.Response(text=self.answer, status=self.status)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    target = Hook()
    app = web.Application()
    app.router.add_post("/hook", target.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    target.url = f"http://127.0.0.1:{port}/hook"
    yield target
    target.hang.set()
    await runner.cleanup()


async def test_webhook_round_trip_in_a_direct_room(make_server, http, hook: Hook) -> None:
    from tests.support import ADMIN_EMAIL

    server = make_server(CAMPFIRE_WEBHOOK_ALLOW_PRIVATE="1", CAMPFIRE_WEBHOOK_TIMEOUT_SECONDS="1")
    admin = await login(http, server.url, ADMIN_EMAIL)
    bot = await create_bot(admin, "Echo", webhook_url=hook.url)
    bot_id = bot["user"]["id"]
    assert bot["webhook_url"] == hook.url
    dm = await admin.create_room("dm", "direct", [bot_id])
    watcher = await Client(server.url).connect(auth={"token": admin.token})
    try:
        await watcher.synced()
        sent = await admin.send(dm["id"], "ping")
        reply = await watcher.wait_for("NewMessage", lambda d: d["message"]["creator_id"] == bot_id)
        assert reply["message"]["content"] == "pong" and reply["room_id"] == dm["id"]
        payload = hook.received[0]
        assert set(payload) == {"user", "room", "message"}
        assert payload["message"]["id"] == sent["id"]
        assert payload["user"]["id"] == admin.id
        assert payload["room"]["id"] == dm["id"] and bot_id in payload["room"]["member_ids"]

        # A JSON {content} answer.
        hook.answer = {"content": "from json"}
        await admin.send(dm["id"], "again")
        await watcher.wait_for("NewMessage", lambda d: d["message"]["content"] == "from json")

        # In a room that is not direct, only a mention calls the webhook.
        room = await admin.create_room("standup", "open")
        await admin.call("POST", f"/api/rooms/{room['id']}/members", {"user_id": bot_id})
        await admin.send(room["id"], "not for the bot")
        hook.answer = {"content": "you rang?"}
        _, mentioned = await admin.call(
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"content": "@Echo status?", "mention_ids": [bot_id]},
            expect=201,
        )
        reply = await watcher.wait_for(
            "NewMessage",
            lambda d: d["room_id"] == room["id"] and d["message"]["creator_id"] == bot_id,
        )
        assert reply["message"]["content"] == "you rang?"
        assert hook.received[-1]["message"]["id"] == mentioned["message"]["id"]
        assert [r["message"]["content"] for r in hook.received].count("not for the bot") == 0

        # A failure is counted and posts nothing; so is a timeout.
        base = await _deliveries(http, server.url)
        hook.status, hook.answer = 500, "broken"
        await admin.send(dm["id"], "fail please")
        await wait_for_metric(
            http,
            server.url,
            'campfire_webhook_deliveries_total{outcome="bad_status"}',
            base.get("bad_status", 0) + 1,
        )
        hook.status, hook.answer, hook.hanging = 200, "too late", True
        await admin.send(dm["id"], "be slow")
        await wait_for_metric(
            http,
            server.url,
            'campfire_webhook_deliveries_total{outcome="timeout"}',
            base.get("timeout", 0) + 1,
        )
        # The bot's own messages never trigger its webhook: as many requests as human sends.
        assert len(hook.received) == 5
        contents = [m["content"] for m in await admin.history(dm["id"])]
        assert "broken" not in contents and "too late" not in contents

        # The example webhook bot (web/examples/echo-bot.mjs), run with Node.
        echo = await _start_echo_bot()
        try:
            made = await create_bot(admin, "Echo", webhook_url=echo[1])
            room = await admin.create_room("echo dm", "direct", [made["user"]["id"]])
            await admin.send(room["id"], "hello echo")
            await watcher.wait_for(
                "NewMessage",
                lambda d: (
                    d["room_id"] == room["id"] and d["message"]["content"] == "echo: hello echo"
                ),
            )
        finally:
            echo[0].terminate()
            await echo[0].wait()
    finally:
        await watcher.close()


async def _start_echo_bot() -> tuple[asyncio.subprocess.Process, str]:
    node = shutil.which("node")
    assert node, "node is needed for web/examples/echo-bot.mjs"
    process = await asyncio.create_subprocess_exec(
        node,
        str(ROOT / "web" / "examples" / "echo-bot.mjs"),
        env={**os.environ, "PORT": str(free_port()), "HOST": "127.0.0.1"},
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    return process, orjson.loads(line)["url"]


async def _deliveries(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with http.get(base + "/metrics") as response:
        text = await response.text()
    found = {}
    for line in text.splitlines():
        if line.startswith("campfire_webhook_deliveries_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = float(line.rsplit(" ", 1)[1])
    return found
