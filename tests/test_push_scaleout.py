"""Read state and Web Push across processes: two web processes and an arq worker on Redis and
PostgreSQL. Visibility lives in Redis, the push job runs in the worker, and the push counters
are deployment-wide (any web process's /metrics shows them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.push_support import PushService
from tests.scaleout_support import Cluster, cluster_fixture, on
from tests.support import (
    ADMIN_EMAIL,
    UNLIMITED,
    Api,
    Client,
    ServerProcess,
    login,
    metric,
    wait_for_metric,
)
from tests.test_bots import create_bot, hook  # noqa: F401 (hook is a fixture)
from tests.test_push import PUSH_ENV, hidden_tab, involve, subscribe

# Starting PostgreSQL's database, two web processes and a worker one after another can take
# minutes on a loaded machine; the module's first test pays for it.
pytestmark = pytest.mark.timeout(600)

# One at a time: on a loaded machine three imports at once can outlast the start timeout.
cluster = cluster_fixture(
    "push-scaleout",
    {**UNLIMITED, **PUSH_ENV, "CAMPFIRE_WEBHOOK_ALLOW_PRIVATE": "1"},
    servers=2,
    workers=1,
    staggered=True,
)


@pytest.fixture
async def service(cluster: Cluster) -> AsyncIterator[PushService]:
    push = await PushService().start()
    async with aiohttp.ClientSession() as http:
        keys = set()
        for server in cluster.servers:  # every process publishes the one stored key
            async with http.get(server.url + "/api/push/vapid_public_key") as response:
                keys.add((await response.json())["key"])
        assert len(keys) == 1
        push.vapid_key = keys.pop()
    yield push
    await push.close()


async def person(http: aiohttp.ClientSession, server: ServerProcess, name: str) -> Api:
    admin = await login(http, server.url, ADMIN_EMAIL)
    user = await admin.create_user(name)
    return await login(http, server.url, user["email_address"])


async def test_pushes_go_out_from_the_worker(cluster, service, http) -> None:
    p1, p2 = cluster.servers
    alice, bob, carol = (
        await person(http, p1, "alice"),
        await person(http, p1, "bob"),
        await person(http, p2, "carol"),
    )
    room = await alice.create_room("Across", "open", [bob.id, carol.id])
    subs = {}
    for api in (bob, carol):
        await involve(api, room["id"], "everything")
        subs[api.id] = service.subscriber()
        await subscribe(api, subs[api.id])
    # Bob's only tab (on p1) is hidden; Carol's (on p2) is visible.
    bob_tab = await hidden_tab(p1, bob)
    carol_tab = await Client(p2.url).connect(auth={"token": carol.token})
    before = await metric(http, p2.url, "campfire_push_sent_total")
    try:
        await carol_tab.synced()
        message = await on(alice, p2).send(room["id"], "sent through p2")
        [push] = await service.wait(subs[bob.id], 1, timeout=30)
        await wait_for_metric(http, p2.url, "campfire_push_sent_total", before + 1, timeout=30)
    finally:
        await bob_tab.close()
        await carol_tab.close()
    assert push.problem is None and push.payload is not None
    assert push.payload["message_id"] == message["id"]
    assert push.payload["body"] == "alice: sent through p2"
    assert service.to(subs[carol.id]) == []
    assert await metric(http, p1.url, "campfire_push_sent_total") == before + 1


async def test_read_state_crosses_processes(cluster, http) -> None:
    p1, p2 = cluster.servers
    alice, bob = await person(http, p1, "alice"), await person(http, p1, "bob")
    room = await alice.create_room("Read", "open", [bob.id])
    for n in range(3):
        await alice.send(room["id"], f"m{n}")
    phone = await Client(p1.url).connect(auth={"token": bob.token})
    laptop = await Client(p2.url).connect(auth={"token": bob.token})
    try:
        await phone.synced()
        await laptop.synced()
        ack = await phone.call("MarkRead", {"room_id": room["id"], "seq": 3})
        assert ack["data"] == {"room_id": room["id"], "last_read_seq": 3}
        assert await laptop.wait_for("RoomRead") == {"room_id": room["id"], "last_read_seq": 3}
    finally:
        await phone.close()
        await laptop.close()
    _, data = await on(bob, p2).call("GET", "/api/rooms", expect=200)
    [state] = [r for r in data["rooms"] if r["id"] == room["id"]]
    assert (state["last_read_seq"], state["unread_count"]) == (3, 0)


async def test_gone_subscriptions_are_deleted_by_the_worker(cluster, service, http) -> None:
    p1, p2 = cluster.servers
    alice, bob = await person(http, p1, "alice"), await person(http, p2, "bob")
    room = await alice.create_room("Gone", "open", [bob.id])
    await involve(bob, room["id"], "everything")
    gone = service.subscriber(status=410)
    await subscribe(bob, gone)
    before = await metric(http, p1.url, "campfire_push_gone_total")
    await alice.send(room["id"], "hello?")
    await service.wait(gone, 1, timeout=30)
    await wait_for_metric(http, p1.url, "campfire_push_gone_total", before + 1, timeout=30)
    await subscribe(bob, gone, expect=201)


async def test_a_bots_reply_stored_by_the_worker_is_pushed(cluster, service, http, hook) -> None:  # noqa: F811
    # With Redis, a webhook runs in the worker and its answer is stored there: the worker
    # batches that message's pushes itself (no web process sees it stored).
    p1, _ = cluster.servers
    admin = await login(http, p1.url, ADMIN_EMAIL)
    bob = await person(http, p1, "bob")
    bot = await create_bot(admin, "Echo", webhook_url=hook.url)
    bot_id = bot["user"]["id"]
    room = await admin.create_room("Bots", "open", [bob.id, bot_id])
    await involve(bob, room["id"], "everything")
    sub = service.subscriber()
    await subscribe(bob, sub)
    bob_tab = await hidden_tab(p1, bob)
    hook.answer = {"content": "build is green"}
    try:
        _, sent = await admin.call(
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"content": "@Echo status?", "mention_ids": [bot_id]},
            expect=201,
        )
        reply = await bob_tab.wait_for(
            "NewMessage", lambda d: d["message"]["creator_id"] == bot_id, timeout=30
        )
        pushes = await service.wait(sub, 2, timeout=30)
    finally:
        await bob_tab.close()
    assert all(p.problem is None and p.payload is not None for p in pushes)
    by_message = {p.payload["message_id"]: p.payload for p in pushes if p.payload is not None}
    assert set(by_message) == {sent["message"]["id"], reply["message"]["id"]}
    assert by_message[reply["message"]["id"]]["body"] == "Echo: build is green"
