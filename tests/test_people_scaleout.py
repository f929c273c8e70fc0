"""Rooms and people on two web processes with Redis and PostgreSQL, and an arq worker:
deactivation reaches sockets on every process, concurrent direct-room creation makes one room,
the sign-in throttle is shared, and webhooks run in the worker."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.scaleout_support import (
    Cluster,
    admin_fixture,
    clients_fixture,
    cluster_fixture,
    connect,
    new_user,
)
from tests.support import ADMIN_EMAIL, PASSWORD, Api, Client, ServerProcess, login

# Starting a cluster takes long on a busy machine.
pytestmark = pytest.mark.timeout(400)

ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_LOGIN_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_TYPING_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "50",
    "CAMPFIRE_WEBHOOK_ALLOW_PRIVATE": "1",
}

cluster = cluster_fixture("people-scaleout", ENV, servers=2, workers=1)
admin = admin_fixture()
clients = clients_fixture()


async def test_deactivation_disconnects_sockets_on_every_process(
    cluster: Cluster, admin: Api, http: aiohttp.ClientSession, clients: list[Client]
) -> None:
    p1, p2 = cluster.servers[:2]
    leaver = await new_user(admin, http, p1)
    other_session = await login(http, p2.url, leaver.user["email_address"])
    sockets = [
        await connect(clients, p1, leaver.token),
        await connect(clients, p2, leaver.token),
        await connect(clients, p2, other_session.token),
    ]
    await admin.call("DELETE", f"/api/users/{leaver.id}", expect=204)
    for socket in sockets:
        assert await socket.wait_for("Disconnect") == {"reason": "account_deactivated"}
        await asyncio.wait_for(socket.disconnected.wait(), 10)
    for server in (p1, p2):
        refusal = await Client(server.url).refused(auth={"token": other_session.token})
        assert refusal["code"] == "auth_failed"
    async with http.post(
        p2.url + "/api/session",
        json={"email_address": leaver.user["email_address"], "password": PASSWORD},
    ) as response:
        assert response.status == 401


async def test_concurrent_direct_rooms_on_two_processes_make_one(
    cluster: Cluster, admin: Api, http: aiohttp.ClientSession
) -> None:
    p1, p2 = cluster.servers[:2]
    one, two = await new_user(admin, http, p1), await new_user(admin, http, p2)

    async def create(api: Api, server: ServerProcess, other: str) -> tuple[int, Any]:
        async with http.post(
            server.url + "/api/rooms",
            json={"name": "dm", "kind": "direct", "member_ids": [other]},
            headers=api.headers,
        ) as response:
            return response.status, await response.json()

    attempts = [
        create(one, server, two.id) if i % 2 else create(two, server, one.id)
        for i, server in enumerate([p1, p2] * 8)
    ]
    answers = await asyncio.gather(*attempts)
    assert len({data["room"]["id"] for _, data in answers}) == 1, answers
    assert sorted(status for status, _ in answers) == [200] * 15 + [201]


async def test_the_sign_in_throttle_is_shared_through_redis(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    a = cluster.add_server(CAMPFIRE_LOGIN_RATE="3")
    b = cluster.add_server(CAMPFIRE_LOGIN_RATE="3")
    body = {"email_address": ADMIN_EMAIL, "password": "not the password"}
    statuses = []
    for server in (a, b, a, b):
        async with http.post(server.url + "/api/session", json=body) as response:
            statuses.append(response.status)
            retry_after = response.headers.get("Retry-After")
    assert statuses == [401, 401, 401, 429]
    assert retry_after is not None and 1 <= int(retry_after) <= 180


async def test_a_webhook_runs_in_the_worker(
    cluster: Cluster, admin: Api, clients: list[Client]
) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(orjson.loads(await request.read()))
        return web.json_response({"content": "heard you"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        _, bot = await admin.call(
            "POST",
            "/api/bots",
            {"name": "Worker bot", "webhook_url": f"http://127.0.0.1:{port}/hook"},
            expect=201,
        )
        bot_id = bot["user"]["id"]
        room = await admin.create_room("dm", "direct", [bot_id])
        watcher = await connect(clients, cluster.servers[1], admin.token)
        await admin.send(room["id"], "anyone there?")
        reply = await watcher.wait_for(
            "NewMessage", lambda d: d["message"]["creator_id"] == bot_id, timeout=20
        )
        assert reply["message"]["content"] == "heard you"
        assert received[0]["message"]["content"] == "anyone there?"
    finally:
        await runner.cleanup()
