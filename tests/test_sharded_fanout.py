"""Room-sharded fan-out (app/realtime/engineio_seam/sharded_pubsub.py) on real Redis 7 and
PostgreSQL, two `campfire serve` processes: a process receives from Redis only the traffic of
rooms it has sockets in, and a socket that brings a room to a process misses nothing of it.

The fan-out audit is off here (CAMPFIRE_FANOUT_AUDIT_SECONDS=0), so that a message lost on
the way would stay lost instead of being repaired: what arrives came by fan-out.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from app.realtime.engineio_seam.sharded_pubsub import shard_channel, shard_index
from tests.scaleout_support import REDIS_URL, Cluster
from tests.support import ADMIN_EMAIL, Api, Client, ServerProcess, login, new_id

SHARDS = 8
ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_TYPING_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "50",
    "CAMPFIRE_FANOUT_AUDIT_SECONDS": "0",
    "CAMPFIRE_PUBSUB_SHARDS": str(SHARDS),
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    deployment = Cluster(tmp_path_factory.mktemp("sharded-fanout"), dict(ENV))
    try:
        deployment.setup()
        deployment.start(servers=2, workers=1)
        yield deployment
    finally:
        deployment.teardown()


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    await asyncio.gather(*(client.close() for client in opened))


async def users(cluster: Cluster, http: aiohttp.ClientSession, count: int) -> list[Api]:
    admin = await login(http, cluster.servers[0].url, ADMIN_EMAIL)
    made = []
    for _ in range(count):
        user = await admin.create_user(f"user{uuid.uuid4().hex[:6]}")
        made.append(await login(http, cluster.servers[0].url, user["email_address"]))
    return made


def on(api: Api, server: ServerProcess) -> Api:
    return Api(api.http, server.url, api.token, api.user)


async def connect(clients: list[Client], server: ServerProcess, api: Api) -> Client:
    client = Client(server.url)
    clients.append(client)
    await client.connect(auth={"token": api.token})
    await client.synced()
    return client


def shard(room: str) -> int:
    return shard_index(room, SHARDS)


async def received(http: aiohttp.ClientSession, server: ServerProcess, channel: str) -> float:
    """campfire_pubsub_messages_received_total{channel=...} of one process."""
    async with http.get(server.url + "/metrics") as response:
        text = await response.text()
    wanted = f'campfire_pubsub_messages_received_total{{channel="{channel}"}} '
    for line in text.splitlines():
        if line.startswith(wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def shard_subscribers(cluster: Cluster, room: str) -> int:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        channel = shard_channel(f"{cluster.prefix}:socketio", shard(room))
        reply = await client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
        return int(reply[1])
    finally:
        await client.aclose()


async def room_on_another_shard(
    creator: Api, members: list[str], taken: set[int]
) -> dict[str, Any]:
    """A new closed room whose shard is none of `taken` (room ids are random)."""
    for _ in range(50):
        room = await creator.create_room("sharded", "closed", members)
        if shard(f"room:{room['id']}") not in taken:
            return room
    raise AssertionError("no room on a free shard in 50 tries")


async def test_a_process_receives_none_of_the_traffic_of_rooms_it_has_no_socket_in(
    cluster: Cluster, http: aiohttp.ClientSession, clients: list[Client]
) -> None:
    p1, p2 = cluster.servers
    alice, bob, carol = await users(cluster, http, 3)
    # Carol is on p2 with her own room; p2 thus subscribes to the shards of user:carol and of
    # her room. The room under test, X, is on another shard, and has sockets on p1 only.
    elsewhere = await carol.create_room("carol's", "closed", [])
    taken = {shard(f"user:{carol.id}"), shard(f"room:{elsewhere['id']}")}
    x = await room_on_another_shard(alice, [bob.id], taken)
    watcher = await connect(clients, p1, alice)
    await connect(clients, p2, carol)
    assert await shard_subscribers(cluster, f"room:{x['id']}") == 1  # p1 only

    p1_before = await received(http, p1, "shard")
    p2_before = {kind: await received(http, p2, kind) for kind in ("shard", "shared")}
    count = 20
    sent = []
    for i in range(count):
        # Bob posts through p2 (no socket of X there): p2 publishes, p1 delivers.
        sent.append(await on(bob, p2).send(x["id"], f"via p2 {i}"))
    last = sent[-1]["id"]
    await watcher.wait_for("NewMessage", lambda d: d["message"]["id"] == last)
    seqs = [d["message"]["seq"] for d in watcher.named("NewMessage") if d["room_id"] == x["id"]]
    assert seqs == list(range(1, count + 1))

    # p1 decoded p2's publishes from X's shard; p2 decoded nothing of X.
    assert await received(http, p1, "shard") - p1_before >= count
    assert await received(http, p2, "shard") == p2_before["shard"]
    assert await received(http, p2, "shared") - p2_before["shared"] < count
    assert await shard_subscribers(cluster, f"room:{x['id']}") == 1


async def test_the_last_socket_leaving_gives_its_rooms_shards_up(
    cluster: Cluster, http: aiohttp.ClientSession, clients: list[Client]
) -> None:
    p1, p2 = cluster.servers
    alice, bob = await users(cluster, http, 2)
    room = await alice.create_room("coming and going", "closed", [bob.id])
    channel = f"room:{room['id']}"
    others = await connect(clients, p1, alice)
    visitor = await connect(clients, p2, bob)
    assert await shard_subscribers(cluster, channel) == 2
    await visitor.close()

    async def gone() -> None:
        while await shard_subscribers(cluster, channel) != 1:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(gone(), 10)  # p2 unsubscribed; p1 still has alice
    assert others.sio.connected


async def test_a_socket_bringing_a_room_to_a_process_misses_nothing_of_it(
    cluster: Cluster, http: aiohttp.ClientSession, clients: list[Client]
) -> None:
    """Messages keep flowing in X (sent on p1) while a member connects on p2, which had no
    socket in X: replay plus live delivery must give every seq, once, in order."""
    p1, p2 = cluster.servers
    alice, bob, carol = await users(cluster, http, 3)
    taken = {shard(f"user:{carol.id}"), shard(f"user:{bob.id}")}
    x = await room_on_another_shard(alice, [bob.id], taken)
    await connect(clients, p2, carol)  # p2 is up and subscribed, but not to X's shard
    sender = await connect(clients, p1, alice)
    total = 60
    joined = asyncio.Event()

    async def keep_sending() -> None:
        for i in range(total):
            if i == 10:
                joined.set()
            ack = await sender.call(
                "NewMessage",
                {"room_id": x["id"], "content": f"m{i}", "client_message_id": new_id()},
            )
            assert ack["type"] == "MessageDelivered", ack

    sending = asyncio.create_task(keep_sending())
    await joined.wait()
    newcomer = Client(p2.url)
    clients.append(newcomer)
    await newcomer.connect(auth={"token": bob.token, "last_seen": {x["id"]: 0}})
    await sending
    await newcomer.wait_for(
        "NewMessage", lambda d: d["room_id"] == x["id"] and d["message"]["seq"] == total
    )
    seqs = [d["message"]["seq"] for d in newcomer.named("NewMessage") if d["room_id"] == x["id"]]
    # Replay and live delivery may overlap (clients drop duplicates by id): none missing.
    assert sorted(set(seqs)) == list(range(1, total + 1))


async def test_a_member_added_from_another_process_gets_everything_after_roomjoined(
    cluster: Cluster, http: aiohttp.ClientSession, clients: list[Client]
) -> None:
    """The cross-process enter_room: p1 asks p2 to put carol's socket into X (p2 has no
    socket in X) and at once sends X's messages; p2 subscribes X's shard when it reads the
    request, and p1 sends on the shared channel meanwhile."""
    p1, p2 = cluster.servers
    alice, carol = await users(cluster, http, 2)
    taken = {shard(f"user:{carol.id}")}
    x = await room_on_another_shard(alice, [], taken)
    sender = await connect(clients, p1, alice)
    newcomer = await connect(clients, p2, carol)
    await alice.call("POST", f"/api/rooms/{x['id']}/members", {"user_id": carol.id}, expect=201)
    total = 15
    for i in range(total):
        ack = await sender.call(
            "NewMessage", {"room_id": x["id"], "content": f"m{i}", "client_message_id": new_id()}
        )
        assert ack["type"] == "MessageDelivered", ack
    await newcomer.wait_for("RoomJoined", lambda d: d["room"]["id"] == x["id"])
    await newcomer.wait_for(
        "NewMessage", lambda d: d["room_id"] == x["id"] and d["message"]["seq"] == total
    )
    seqs = [d["message"]["seq"] for d in newcomer.named("NewMessage") if d["room_id"] == x["id"]]
    assert seqs == list(range(1, total + 1))
    assert await shard_subscribers(cluster, f"room:{x['id']}") == 2


def test_shards_are_the_same_in_every_process() -> None:
    # crc32, not Python's per-process salted hash(): every process must agree.
    assert shard_index("room:abc", 32) == shard_index("room:abc", 32) == 14
    assert shard_channel("campfire:socketio", 7) == "campfire:socketio:shard:7"
