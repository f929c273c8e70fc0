"""Message lifecycle across two `campfire serve` processes on Redis and PostgreSQL, with the
replay done by an arq worker (PROTOCOL.md 9.1)."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from tests.scaleout_support import Cluster, clients_fixture, cluster_fixture, connect, on
from tests.support import ADMIN_EMAIL, Api, Client, login, new_id

# Starting a cluster takes long on a busy machine; its first test pays for it.
pytestmark = pytest.mark.timeout(400)

ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_TYPING_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "50",
}

cluster = cluster_fixture("lifecycle-scaleout", ENV, servers=2, workers=1)
clients = clients_fixture()


async def users(cluster: Cluster, http: aiohttp.ClientSession, count: int) -> list[Api]:
    p1 = cluster.servers[0]
    admin = await login(http, p1.url, ADMIN_EMAIL)
    made = []
    for _ in range(count):
        user = await admin.create_user(f"user{uuid.uuid4().hex[:6]}")
        made.append(await login(http, p1.url, user["email_address"]))
    return made


async def test_changes_on_one_process_reach_the_other_in_rev_order(
    cluster: Cluster, http: aiohttp.ClientSession, clients: list[Client]
) -> None:
    p1, p2 = cluster.servers
    alice, bob = await users(cluster, http, 2)
    room = await alice.create_room("team", "closed", [bob.id])
    watcher = await connect(clients, p2, bob)
    actor = await connect(clients, p1, alice)
    ack = await actor.call(
        "NewMessage", {"room_id": room["id"], "content": "v0", "client_message_id": new_id()}
    )
    mid = ack["data"]["message_id"]
    for i in range(1, 21):
        answer = await actor.call("EditMessage", {"message_id": mid, "content": f"v{i}"})
        assert answer["data"]["rev"] == i
    boost = await actor.call("AddBoost", {"message_id": mid, "content": "🔥"})
    assert boost["data"]["rev"] == 21
    await on(alice, p1).call("DELETE", f"/api/rooms/{room['id']}/messages/{mid}", expect=204)
    await watcher.wait_for("MessageUpdated", lambda d: d["rev"] == 22)
    updates = watcher.named("MessageUpdated")
    assert [u["rev"] for u in updates] == list(range(1, 23))
    assert updates[19]["message"]["content"] == "v20"
    assert updates[-1]["message"]["deleted"] is True


async def test_concurrent_changes_over_both_processes_take_gapless_revs(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    p1, p2 = cluster.servers
    alice, bob = await users(cluster, http, 2)
    room = await alice.create_room("busy", "closed", [bob.id])
    message = await alice.send(room["id"], "popular")
    url = f"/api/rooms/{room['id']}/messages/{message['id']}"

    async def change(i: int) -> int:
        server = p1 if i % 2 else p2
        if i % 4 < 2:
            _, data = await on(alice, server).call("PATCH", url, {"content": f"v{i}"}, expect=200)
        else:
            _, data = await on(bob, server).call(
                "POST", url + "/boosts", {"content": f"b{i}"}, expect=201
            )
        return data["message"]["rev"]

    revs = await asyncio.gather(*(change(i) for i in range(100)))
    assert sorted(revs) == list(range(1, 101))
    _, data = await alice.call("GET", f"/api/rooms/{room['id']}/messages", expect=200)
    [current] = data["messages"]
    assert current["rev"] == 100 and len(current["boosts"]) == 50


async def test_the_worker_replays_changes_missed_while_offline(
    cluster: Cluster, http: aiohttp.ClientSession, clients: list[Client]
) -> None:
    p1, p2 = cluster.servers
    alice, bob = await users(cluster, http, 2)
    room = await alice.create_room("team", "closed", [bob.id])
    base = f"/api/rooms/{room['id']}/messages"
    a, b, c = [await alice.send(room["id"], f"m{i}") for i in range(3)]
    first = await connect(clients, p2, bob)
    sync = first.named("SyncComplete")[0]
    assert sync["rooms"][0]["last_rev"] == 0
    await first.close()
    await on(alice, p1).call("PATCH", f"{base}/{a['id']}", {"content": "a2"}, expect=200)
    await on(alice, p2).call("POST", f"{base}/{b['id']}/boosts", {"content": "👍"}, expect=201)
    await on(alice, p1).call("DELETE", f"{base}/{c['id']}", expect=204)
    again = await connect(clients, p1, bob, last_seen={room["id"]: 3}, last_rev={room["id"]: 0})
    updates = again.named("MessageUpdated")
    assert [(u["message"]["id"], u["rev"]) for u in updates] == [
        (a["id"], 1),
        (b["id"], 2),
        (c["id"], 3),
    ]
    assert updates[0]["message"]["content"] == "a2"
    assert [x["content"] for x in updates[1]["message"]["boosts"]] == ["👍"]
    assert updates[2]["message"]["deleted"] is True
    assert again.named("SyncComplete")[0]["rooms"][0]["last_rev"] == 3
