"""Scale-out on real Redis and PostgreSQL: two `campfire serve` processes and two arq workers
sharing one database (created for this run) and one Redis prefix (its own Socket.IO channel
and arq queue). Clients on different processes must see each other as if on one.

Intervals are shortened through the environment: typing expires after 2 s (swept every
second), connections go stale after 10 s without a heartbeat (swept every second; live
ones are refreshed every second: the margin covers event-loop lag on a busy test machine).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import pytest

from tests.scaleout_support import (
    Cluster,
    admin_fixture,
    clients_fixture,
    cluster_fixture,
    connect,
    new_user,
    on,
)
from tests.support import (
    Api,
    Client,
    ServerProcess,
    metric,
    new_id,
    wait_until,
)

# Starting a cluster takes long on a busy machine; its first test pays for it.
pytestmark = pytest.mark.timeout(400)

SCALE_ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_LOGIN_RATE": "0",
    "CAMPFIRE_TYPING_RATE": "0",
    "CAMPFIRE_MAX_CONNECTIONS_PER_USER": "50",
    "CAMPFIRE_MESSAGE_RATE": "60",
    "CAMPFIRE_TYPING_TIMEOUT_SECONDS": "2",
    "CAMPFIRE_TYPING_SWEEP_SECONDS": "1",
    "CAMPFIRE_PRESENCE_STALE_SECONDS": "10",
    "CAMPFIRE_PRESENCE_SWEEP_SECONDS": "1",
    "CAMPFIRE_HEARTBEAT_SECONDS": "1",
}
TYPING_TIMEOUT = 2.0
STALE = 10.0

# Two workers, so that every cron tick is contended for.
cluster = cluster_fixture("scaleout", SCALE_ENV, servers=2, workers=2)
admin = admin_fixture()
clients = clients_fixture()


@pytest.fixture
def p1(cluster: Cluster) -> ServerProcess:
    return cluster.servers[0]


@pytest.fixture
def p2(cluster: Cluster) -> ServerProcess:
    return cluster.servers[1]


async def one_on_each(
    admin: Api, http: aiohttp.ClientSession, p1: ServerProcess, p2: ServerProcess, name: str
) -> tuple[Api, Api, dict[str, Any]]:
    """A user signed in on each process, and a closed room of both."""
    a, b = await new_user(admin, http, p1), await new_user(admin, http, p2)
    return a, b, await admin.create_room(name, "closed", [a.id, b.id])


async def send(
    client: Client, room_id: str, content: str, cmid: str | None = None, timeout: float = 10
) -> Any:
    ack = await client.call(
        "NewMessage",
        {"room_id": room_id, "content": content, "client_message_id": cmid or new_id()},
        timeout=timeout,
    )
    assert ack["type"] == "MessageDelivered", ack
    return ack["data"]


async def all_messages(api: Api, room_id: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(100):  # bounded paging
        page = await api.history(
            room_id, after_seq=messages[-1]["seq"] if messages else 0, limit=200
        )
        if not page:
            return messages
        messages.extend(page)
    raise AssertionError("history did not end")


async def metric_sum(http: aiohttp.ClientSession, urls: list[str], name: str) -> float:
    total = 0.0
    for url in urls:
        total += await metric(http, url, name)
    return total


def worker_bases(cluster: Cluster) -> list[str]:
    # tests.support.metric appends /metrics to a base URL.
    return [w.metrics_url.removesuffix("/metrics") for w in cluster.workers]


# ---- operations ----------------------------------------------------------------------


async def test_health_reports_database_and_redis(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    for server in cluster.servers:
        async with http.get(server.url + "/healthz") as response:
            assert response.status == 200
            body = await response.json()
        assert body["checks"] == {"database": True, "redis": True}


def test_arq_check_sees_the_workers(cluster: Cluster) -> None:
    # Another deployment's queue has no worker: its check fails.
    with ThreadPoolExecutor(2) as pool:
        ours, theirs = pool.map(cluster.check, [None, f"nobody-{uuid.uuid4().hex}"])
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 1, theirs.stderr


# ---- events cross processes ----------------------------------------------------------


async def test_messages_cross_processes(
    http: aiohttp.ClientSession, admin: Api, p1: ServerProcess, p2: ServerProcess, clients: list
) -> None:
    a, b, room = await one_on_each(admin, http, p1, p2, "cross")
    ca = await connect(clients, p1, a)
    cb = await connect(clients, p2, b)

    delivered = await send(ca, room["id"], "hello from p1")
    got = await cb.wait_for("NewMessage", lambda d: d["message"]["id"] == delivered["message_id"])
    assert got["message"]["seq"] == delivered["seq"] == 1
    assert got["message"]["creator_id"] == a.id

    message = await b.send(room["id"], "hello from p2 over HTTP")
    got = await ca.wait_for("NewMessage", lambda d: d["message"]["id"] == message["id"])
    assert got["message"]["seq"] == 2
    # The sender's own socket gets it too, through its own process.
    await cb.wait_for("NewMessage", lambda d: d["message"]["id"] == message["id"])


async def test_presence_crosses_processes(
    http: aiohttp.ClientSession, admin: Api, p1: ServerProcess, p2: ServerProcess, clients: list
) -> None:
    a, b, room = await one_on_each(admin, http, p1, p2, "presence")
    cb = await connect(clients, p2, b)

    tab1 = await connect(clients, p1, a)
    joined = await cb.wait_for("UserJoined", lambda d: d["user_id"] == a.id)
    assert joined["room_id"] == room["id"]
    tab2 = await connect(clients, p2, a)  # a second tab, on the other process
    presence = await cb.call("GetPresence", {"room_id": room["id"]})
    assert set(presence["data"]["online_users"]) == {a.id, b.id}

    await tab1.close()
    # Online is global: the tab on p2 keeps A online, so no UserLeft yet.
    presence = await cb.call("GetPresence", {"room_id": room["id"]})
    assert a.id in presence["data"]["online_users"]
    await tab2.close()
    left = await cb.wait_for("UserLeft", lambda d: d["user_id"] == a.id)
    assert left["room_id"] == room["id"]
    assert len([d for d in cb.named("UserJoined") if d["user_id"] == a.id]) == 1
    assert len([d for d in cb.named("UserLeft") if d["user_id"] == a.id]) == 1
    _, body = await on(b, p1).call("GET", f"/api/rooms/{room['id']}/presence", expect=200)
    assert body["online_users"] == [b.id]


async def test_typing_and_its_expiry_cross_processes(
    http: aiohttp.ClientSession, admin: Api, p1: ServerProcess, p2: ServerProcess, clients: list
) -> None:
    a, b, room = await one_on_each(admin, http, p1, p2, "typing")
    ca = await connect(clients, p1, a)
    cb = await connect(clients, p2, b)

    def mine(data: Any) -> bool:
        return data == {"user_id": a.id, "room_id": room["id"]}

    # An explicit stop crosses at once.
    await ca.call("TypingStart", {"room_id": room["id"]})
    await cb.wait_for("TypingStart", mine)
    await ca.call("TypingStop", {"room_id": room["id"]})
    await cb.wait_for("TypingStop", mine)

    # Not refreshed: the worker's sweep ends it after the timeout, and only once even
    # though two workers contend for every sweep.
    for round_ in (1, 2):
        mark = len(cb.events)
        started = time.monotonic()
        await ca.call("TypingStart", {"room_id": room["id"]})
        await cb.wait_for("TypingStart", mine, after=mark)
        await cb.wait_for("TypingStop", mine, after=mark, timeout=TYPING_TIMEOUT + 8)
        # Not before the timeout (how soon after it depends on the sweep and the machine).
        assert time.monotonic() - started >= TYPING_TIMEOUT - 0.1
        assert len([d for d in cb.named("TypingStop") if mine(d)]) == round_ + 1
    # The typist never hears its own typing.
    assert not [d for d in ca.named("TypingStart") + ca.named("TypingStop") if mine(d)]


async def test_cron_ticks_run_once_across_workers(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    """Both workers schedule the 1 s typing sweep; together they must run it about once a
    second, not twice."""
    name = 'campfire_job_runs_total{job="typing_expiry",outcome="ok"}'
    bases = worker_bases(cluster)

    async def runs() -> float:
        total = 0.0
        for base in bases:
            async with http.get(base + "/metrics") as response:
                for line in (await response.text()).splitlines():
                    if line.startswith(name + " "):
                        total += float(line.rsplit(" ", 1)[1])
        return total

    first = await runs()
    started = time.monotonic()
    deadline = started + 20
    while await runs() < first + 5:
        assert time.monotonic() < deadline, "the typing sweep is not running"
        await asyncio.sleep(0.05)
    # Five runs at one per second take at least four seconds; two per tick would take two.
    assert time.monotonic() - started >= 3.5


async def test_room_events_cross_processes(
    http: aiohttp.ClientSession, admin: Api, p1: ServerProcess, p2: ServerProcess, clients: list
) -> None:
    a = await new_user(admin, http, p1)
    b = await new_user(admin, http, p2)
    lobby = await a.create_room("lobby", "closed", [b.id])
    cb = await connect(clients, p2, b)

    # A (on p1's HTTP API) adds B to a new room: B's socket on p2 is told and subscribed.
    room = await a.create_room("project", "closed", [])
    await a.call("POST", f"/api/rooms/{room['id']}/members", {"user_id": b.id}, expect=201)
    joined = await cb.wait_for("RoomJoined", lambda d: d["room"]["id"] == room["id"])
    assert joined["room"]["kind"] == "closed"
    message = await a.send(room["id"], "welcome")
    await cb.wait_for("NewMessage", lambda d: d["message"]["id"] == message["id"])

    await a.call("PATCH", f"/api/rooms/{room['id']}", {"name": "renamed"}, expect=200)
    updated = await cb.wait_for(
        "RoomUpdated", lambda d: d["room"]["id"] == room["id"] and d["room"]["name"] != "project"
    )
    assert updated["room"]["name"] == "renamed"

    await a.call("DELETE", f"/api/rooms/{room['id']}/members/{b.id}", expect=204)
    await cb.wait_for("RoomLeft", lambda d: d["room_id"] == room["id"])
    mark = len(cb.events)
    await a.send(room["id"], "B must not see this")
    marker = await a.send(lobby["id"], "marker")  # published after it, on the same channel
    await cb.wait_for("NewMessage", lambda d: d["message"]["id"] == marker["id"], after=mark)
    assert [d for d in cb.named("NewMessage") if d["room_id"] == room["id"]] == [
        {"message": message, "room_id": room["id"]}
    ]


# ---- missed-message recovery from the worker -----------------------------------------


async def test_reconnect_on_the_other_process_gets_backfill_from_the_worker(
    http: aiohttp.ClientSession,
    admin: Api,
    cluster: Cluster,
    p1: ServerProcess,
    p2: ServerProcess,
    clients: list,
) -> None:
    a, b, room = await one_on_each(admin, http, p1, p2, "backfill")
    first = await a.send(room["id"], "before")
    cb = await connect(clients, p2, b)
    assert [d["message"]["id"] for d in cb.named("NewMessage")] == [first["id"]]
    await cb.close()

    replayed_before = await metric_sum(
        http, worker_bases(cluster), "campfire_replayed_messages_total"
    )
    missed = [
        await on(a, server).send(room["id"], f"missed {i}") for i, server in enumerate([p1, p2, p1])
    ]

    inbox = 'campfire_pubsub_messages_received_total{channel="inbox"}'
    inboxes_before = [await metric(http, server.url, inbox) for server in (p1, p2)]
    # The precise cursor, on the other process.
    again = await connect(clients, p1, b, last_seen={room["id"]: first["seq"]})
    # The worker sent the replay to p1's inbox alone, as one message (p2 read none of it).
    assert [await metric(http, server.url, inbox) for server in (p1, p2)] == [
        inboxes_before[0] + 1,
        inboxes_before[1],
    ]
    sync = again.named("SyncComplete")[0]
    assert sync["missed_count"] == 3 and sync["truncated"] is False
    assert sync["rooms"] == [{"room_id": room["id"], "last_seq": 4, "last_rev": 0}]
    names = [name for name, _ in again.events]
    replay = [d["message"] for name, d in again.events if name == "NewMessage"]
    assert [m["id"] for m in replay] == [m["id"] for m in missed]
    assert [m["seq"] for m in replay] == [2, 3, 4]
    assert names.index("SyncComplete") > max(i for i, n in enumerate(names) if n == "NewMessage")

    # The single cursor, on the first process again.
    third = await connect(clients, p2, b, last_seen_message_id=missed[0]["id"])
    assert [d["message"]["seq"] for d in third.named("NewMessage")] == [3, 4]
    assert third.named("SyncComplete")[0]["missed_count"] == 2

    # The worker did the replays; web processes with Redis never replay themselves.
    replayed = await metric_sum(http, worker_bases(cluster), "campfire_replayed_messages_total")
    assert replayed - replayed_before >= 5
    web = await metric_sum(
        http, [s.url for s in cluster.servers], "campfire_replayed_messages_total"
    )
    assert web == 0


async def test_without_a_worker_the_web_process_replays_after_a_bounded_wait(
    http: aiohttp.ClientSession,
    admin: Api,
    cluster: Cluster,
    p1: ServerProcess,
    p2: ServerProcess,
    clients: list,
) -> None:
    a = await new_user(admin, http, p1)
    room = await admin.create_room("outage", "closed", [a.id])
    sent = await a.send(room["id"], "queued for later")
    replayed_by_web = await metric(http, p2.url, "campfire_replayed_messages_total")
    for worker in cluster.workers:
        worker.stop()
    try:
        client = Client(p2.url)
        clients.append(client)
        await client.connect(auth={"token": a.token, "last_seen": {room["id"]: 0}})
        await client.wait_for("PresenceUpdate")
        # Live events still flow without a worker...
        live = await on(a, p1).send(room["id"], "live")
        await client.wait_for("NewMessage", lambda d: d["message"]["id"] == live["id"])
        # ...and the replay nobody took from the queue is run by the web process itself
        # (CAMPFIRE_REPLAY_WAIT_SECONDS later), rather than never.
        sync = await client.synced(timeout=30)
    finally:
        for worker in cluster.workers:
            worker.start()
    assert sync["missed_count"] >= 1
    replayed = [d["message"]["id"] for d in client.named("NewMessage")]
    assert sent["id"] in replayed
    assert await metric(http, p2.url, "campfire_replayed_messages_total") > replayed_by_web


# ---- a web process dies ---------------------------------------------------------------


async def test_killed_process_users_leave_after_the_staleness_window(
    http: aiohttp.ClientSession, admin: Api, cluster: Cluster, p2: ServerProcess, clients: list
) -> None:
    doomed = cluster.add_server()
    a = await new_user(admin, http, doomed)
    b = await new_user(admin, http, p2)
    room = await admin.create_room("kill", "closed", [a.id, b.id])
    cb = await connect(clients, p2, b)
    await connect(clients, doomed, a)
    await cb.wait_for("UserJoined", lambda d: d["user_id"] == a.id)

    doomed.kill()  # SIGKILL: no goodbye, its connections stay in Redis until swept
    killed = time.monotonic()
    left = await cb.wait_for("UserLeft", lambda d: d["user_id"] == a.id, timeout=STALE + 15)
    assert left["room_id"] == room["id"]
    # Stale after STALE s without a heartbeat, swept every second; slack for a busy machine.
    assert time.monotonic() - killed <= STALE + 8
    presence = await cb.call("GetPresence", {"room_id": room["id"]})
    assert presence["data"]["online_users"] == [b.id]
    # B, alive and idle on p2 all along, was never swept.
    assert not cb.disconnected.is_set()


# ---- PostgreSQL: seqs, idempotency and rate limits across processes --------------------


async def test_500_concurrent_sends_over_both_processes_get_seqs_1_to_500(
    http: aiohttp.ClientSession,
    admin: Api,
    p1: ServerProcess,
    p2: ServerProcess,
    clients: list,
) -> None:
    users = list(await asyncio.gather(*(new_user(admin, http, p1) for _ in range(10))))
    room = await admin.create_room("busy", "closed", [u.id for u in users])
    sockets = {}
    for user in users[8:]:
        sockets[user.id] = (await connect(clients, p1, user), await connect(clients, p2, user))

    async def one(user: Api, i: int) -> tuple[str, int, str]:
        cmid = new_id()
        content = f"{user.id[:8]} #{i}"
        if user.id in sockets:  # by socket, alternating processes
            data = await send(sockets[user.id][i % 2], room["id"], content, cmid, timeout=60)
            return cmid, data["seq"], data["message_id"]
        message = await on(user, (p1, p2)[i % 2]).send(room["id"], content, cmid)
        return cmid, message["seq"], message["id"]

    started = time.monotonic()
    results = await asyncio.gather(*(one(user, i) for i in range(50) for user in users))
    print(f"500 sends over two processes took {time.monotonic() - started:.2f} s")
    assert sorted(seq for _, seq, _ in results) == list(range(1, 501))

    stored = await all_messages(users[0], room["id"])
    assert [m["seq"] for m in stored] == list(range(1, 501))
    by_cmid = {m["client_message_id"]: m for m in stored}
    assert {cmid: (seq, mid) for cmid, seq, mid in results} == {
        cmid: (m["seq"], m["id"]) for cmid, m in by_cmid.items()
    }


async def test_idempotent_sends_across_processes(
    http: aiohttp.ClientSession, admin: Api, p1: ServerProcess, p2: ServerProcess
) -> None:
    user = await new_user(admin, http, p1)
    room = await admin.create_room("idem", "closed", [user.id])

    async def post(server: ServerProcess, cmid: str) -> tuple[int, Any]:
        return await on(user, server).call(
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"content": f"once {cmid}", "client_message_id": cmid},
        )

    # The same client_message_id on both processes at the same moment: stored once.
    cmids = [new_id() for _ in range(10)]
    answers = await asyncio.gather(*(post(s, c) for c in cmids for s in (p1, p2)))
    assert sorted(status for status, _ in answers) == [200] * 10 + [201] * 10
    for i, cmid in enumerate(cmids):
        pair = [answers[2 * i][1]["message"], answers[2 * i + 1][1]["message"]]
        assert pair[0] == pair[1] and pair[0]["client_message_id"] == cmid
    stored = await all_messages(user, room["id"])
    assert [m["seq"] for m in stored] == list(range(1, 11))

    # A later resend on the other process: the first answer again, nothing new.
    status, body = await post(p2, cmids[0])
    assert (
        status == 200
        and body["message"]["id"]
        == stored[[m["client_message_id"] for m in stored].index(cmids[0])]["id"]
    )
    status, body = await on(user, p2).call(
        "POST",
        f"/api/rooms/{room['id']}/messages",
        {"content": "other content", "client_message_id": cmids[0]},
    )
    assert status == 409 and body["code"] == "conflict"
    assert len(await all_messages(user, room["id"])) == 10


async def test_message_rate_limit_holds_across_processes(
    http: aiohttp.ClientSession,
    admin: Api,
    p1: ServerProcess,
    p2: ServerProcess,
    clients: list,
) -> None:
    user = await new_user(admin, http, p1)
    room = await admin.create_room("rate", "closed", [user.id])

    async def post(i: int) -> tuple[int, Any]:
        return await on(user, (p1, p2)[i % 2]).call(
            "POST", f"/api/rooms/{room['id']}/messages", {"content": f"m{i}"}
        )

    # 70 at once, half on each process: exactly the budget of 60 goes through.
    answers = await asyncio.gather(*(post(i) for i in range(70)))
    statuses = [status for status, _ in answers]
    assert statuses.count(201) == 60 and statuses.count(429) == 10
    refused = next(body for status, body in answers if status == 429)
    assert refused["code"] == "rate_limit_exceeded"

    # Over a socket on either process: refused too, with a usable retry_after.
    for server in (p1, p2):
        client = await connect(clients, server, user)
        ack = await client.call(
            "NewMessage", {"room_id": room["id"], "content": "more", "client_message_id": new_id()}
        )
        assert ack["type"] == "MessageError" and ack["data"]["code"] == "rate_limit_exceeded"
        assert 0 < ack["data"]["retry_after"] <= 60
    assert [m["seq"] for m in await all_messages(user, room["id"])] == list(range(1, 61))


async def test_a_busy_room_reaches_every_process_in_seq_order(
    http: aiohttp.ClientSession,
    admin: Api,
    p1: ServerProcess,
    p2: ServerProcess,
    clients: list,
) -> None:
    """Broadcasts through Redis await I/O; a process must still publish one room's messages in
    seq order (concurrent commits, one process sending), so every socket sees 1, 2, 3, ..."""
    users = list(await asyncio.gather(*(new_user(admin, http, p1) for _ in range(20))))
    room = await admin.create_room("orderly", "closed", [u.id for u in users])
    listeners = [await connect(clients, p1, users[0]), await connect(clients, p2, users[1])]
    per_user = 15  # under the message rate of SCALE_ENV

    async def burst(user: Api) -> None:
        for chunk in range(3):
            await asyncio.gather(
                *(user.send(room["id"], f"{chunk}-{i}") for i in range(per_user // 3))
            )

    await asyncio.gather(*(burst(user) for user in users))
    total = per_user * len(users)

    def seqs(client: Client) -> list[int]:
        return [
            data["message"]["seq"]
            for data in client.named("NewMessage")
            if data["room_id"] == room["id"]
        ]

    for listener in listeners:
        await wait_until(lambda listener=listener: len(seqs(listener)) >= total, timeout=30)
        assert seqs(listener) == list(range(1, total + 1))
