"""Rooms too big for live presence (CAMPFIRE_LIVE_PRESENCE_MAX_MEMBERS, here 3): no room-wide
UserJoined/UserLeft, a bounded PresenceUpdate at authentication, GetPresence and the HTTP
route still whole, small rooms exactly as PROTOCOL.md says, and a room switching when its
size crosses the threshold. On one in-memory server, and on two processes sharing Redis and
PostgreSQL (the users' sockets on different processes)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest

from tests.presence_big_support import MAX_MEMBERS, crossing_the_threshold, small_and_big_rooms
from tests.scaleout_support import (
    Cluster,
    admin_fixture,
    clients_fixture,
    cluster_fixture,
    new_user,
    on,
)
from tests.scaleout_support import connect as connect_on
from tests.support import ADMIN_EMAIL, Api, Client, ServerProcess, login

ENV = {"CAMPFIRE_LIVE_PRESENCE_MAX_MEMBERS": MAX_MEMBERS}
SCALE_ENV = {**ENV, "CAMPFIRE_CONNECT_RATE": "0", "CAMPFIRE_LOGIN_RATE": "0"}

cluster = cluster_fixture("presence-big", SCALE_ENV, servers=2, workers=0)
admin = admin_fixture()
clients = clients_fixture()


async def _people(http: aiohttp.ClientSession, server: ServerProcess, n: int) -> list[Api]:
    boss = await login(http, server.url, ADMIN_EMAIL)
    return [await new_user(boss, http, server, f"p{k}") for k in range(n)]


def _connector(server: ServerProcess, opened: list[Client]) -> Callable[[Api], object]:
    async def connect(who: Api) -> Client:
        client = await Client(server.url).connect(auth={"token": who.token})
        opened.append(client)
        await client.synced()
        return client

    return connect


async def test_big_room_has_presence_on_request_only(make_server, http) -> None:
    server = make_server(**ENV)
    alice, bob, carol, dave = await _people(http, server, 4)
    opened: list[Client] = []
    try:
        connect = _connector(server, opened)
        await small_and_big_rooms(alice, bob, [carol, dave], connect, connect)
    finally:
        for client in opened:
            await client.close()


async def test_room_switches_when_its_size_crosses_the_threshold(make_server, http) -> None:
    server = make_server(**ENV)
    alice, bob, carol, dave = await _people(http, server, 4)
    opened: list[Client] = []
    try:
        connect = _connector(server, opened)
        await crossing_the_threshold(alice, bob, carol, dave, connect, connect)
    finally:
        for client in opened:
            await client.close()


@pytest.mark.timeout(400)
async def test_big_room_across_processes_with_redis(
    cluster: Cluster, admin: Api, http: aiohttp.ClientSession, clients: list[Client]
) -> None:
    first, second = cluster.servers[0], cluster.servers[1]
    alice, bob, carol, dave = [await new_user(admin, http, first) for _ in range(4)]

    async def on_first(who: Api) -> Client:
        return await connect_on(clients, first, who)

    async def on_second(who: Api) -> Client:
        return await connect_on(clients, second, on(who, second))

    await small_and_big_rooms(alice, bob, [carol, dave], on_first, on_second)
    await crossing_the_threshold(alice, bob, carol, dave, on_first, on_second)
