"""Web Push end to end (PROTOCOL.md section 9.2): a real server, real sockets, and a local
push service (tests/push_support.py) that verifies VAPID and decrypts every push."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import _boot
from tests.push_support import PushService, Subscriber, unb64url
from tests.support import ADMIN_EMAIL, Api, Client, ServerProcess, login, metric, wait_for_metric

PUSH_ENV = {
    "CAMPFIRE_PUSH_ALLOW_HTTP": "1",
    "CAMPFIRE_PUSH_ATTEMPTS": "3",
    "CAMPFIRE_PUSH_BACKOFF_SECONDS": "0.05",
}


@pytest.fixture(scope="module")
def push_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = _boot(tmp_path_factory.mktemp("push-server"), PUSH_ENV)
    yield process
    process.stop()


@pytest.fixture
async def service(push_server: ServerProcess) -> AsyncIterator[PushService]:
    push = await PushService().start()
    async with aiohttp.ClientSession() as http:
        async with http.get(push_server.url + "/api/push/vapid_public_key") as response:
            assert response.status == 200
            push.vapid_key = (await response.json())["key"]
    yield push
    await push.close()


@pytest.fixture
async def people(push_server: ServerProcess, http: aiohttp.ClientSession) -> Any:
    admin = await login(http, push_server.url, ADMIN_EMAIL)

    async def make(name: str) -> Api:
        user = await admin.create_user(name)
        return await login(http, push_server.url, user["email_address"])

    return make


async def subscribe(api: Api, sub: Subscriber, expect: int = 201) -> None:
    await api.call("POST", "/api/push/subscriptions", sub.json, expect=expect)


async def involve(api: Api, room_id: str, level: str) -> None:
    await api.call("PATCH", f"/api/rooms/{room_id}/membership", {"involvement": level}, expect=200)


async def hidden_tab(server: ServerProcess, api: Api) -> Client:
    tab = await Client(server.url).connect(auth={"token": api.token})
    await tab.synced()
    ack = await tab.call("Visibility", {"visible": False})
    assert ack == {"type": "Ok", "data": {"visible": False}}
    return tab


async def sent_total(server: ServerProcess, http: aiohttp.ClientSession) -> float:
    return await metric(http, server.url, "campfire_push_sent_total")


def test_the_vapid_key_is_an_uncompressed_p256_point(service: PushService) -> None:
    assert service.vapid_key is not None
    point = unb64url(service.vapid_key)
    assert len(point) == 65 and point[0] == 4
    assert "=" not in service.vapid_key


async def test_a_hidden_member_gets_one_push_per_message(
    push_server, service, people, http
) -> None:
    alice, bob = await people("alice"), await people("bob")
    room = await alice.create_room("Planning", "open", [bob.id])
    await involve(bob, room["id"], "everything")
    sub = service.subscriber()
    await subscribe(bob, sub)
    await subscribe(bob, sub, expect=200)  # known: nothing new
    tab = await hidden_tab(push_server, bob)
    before = await sent_total(push_server, http)
    try:
        first = await alice.send(room["id"], "Lunch at noon?")
        second = await alice.send(room["id"], "  The   usual place \n")
        pushes = await service.wait(sub, 2)
        await wait_for_metric(http, push_server.url, "campfire_push_sent_total", before + 2)
    finally:
        await tab.close()
    assert all(p.problem is None and p.status == 201 for p in pushes), pushes
    by_message = {p.payload["message_id"]: p.payload for p in pushes if p.payload}
    assert set(by_message) == {first["id"], second["id"]}
    assert by_message[first["id"]] == {
        "title": "Planning",
        "body": "alice: Lunch at noon?",
        "room_id": room["id"],
        "message_id": first["id"],
        "url": f"/?room={room['id']}",
    }
    assert by_message[second["id"]]["body"] == "alice: The usual place"
    assert len(service.to(sub)) == 2


async def test_visible_members_and_senders_get_no_push(push_server, service, people, http) -> None:
    alice, bob, carol = await people("alice"), await people("bob"), await people("carol")
    room = await alice.create_room("Standup", "closed", [bob.id, carol.id])
    subs = {}
    for api in (alice, bob, carol):
        await involve(api, room["id"], "everything")
        subs[api.id] = service.subscriber()
        await subscribe(api, subs[api.id])
    # Carol has a visible tab and a hidden one: visible wins. Bob has none at all.
    visible = await Client(push_server.url).connect(auth={"token": carol.token})
    hidden = await hidden_tab(push_server, carol)
    try:
        await visible.synced()
        before = await sent_total(push_server, http)
        message = await alice.send(room["id"], "Standup in 5")
        [push] = await service.wait(subs[bob.id], 1)
        assert push.payload is not None and push.payload["message_id"] == message["id"]
        await wait_for_metric(http, push_server.url, "campfire_push_sent_total", before + 1)
        # Carol turns her visible tab away: now she is notified too.
        await visible.call("Visibility", {"visible": False})
        again = await alice.send(room["id"], "Starting now")
        [push] = await service.wait(subs[carol.id], 1)
        assert push.payload is not None and push.payload["message_id"] == again["id"]
        await service.wait(subs[bob.id], 2)
    finally:
        await visible.close()
        await hidden.close()
    assert service.to(subs[alice.id]) == []  # never for one's own messages
    assert len(service.to(subs[carol.id])) == 1


async def test_involvement_decides_who_is_notified(push_server, service, people, http) -> None:
    alice = await people("alice")
    levels = ("everything", "mentions", "nothing", "invisible")
    members = {level: await people(level) for level in levels}
    room = await alice.create_room("Matrix", "open", [m.id for m in members.values()])
    subs = {}
    for level, api in members.items():
        await involve(api, room["id"], level)
        subs[level] = service.subscriber()
        await subscribe(api, subs[level])
    # Without a mention only `everything` is notified; a mention adds `mentions`, and
    # never `nothing` or `invisible`, even when they are named.
    cases = [
        ((), {"everything"}),
        (("mentions",), {"everything", "mentions"}),
        (("nothing", "invisible"), {"everything"}),
        (("mentions", "nothing"), {"everything", "mentions"}),
    ]
    expected = dict.fromkeys(levels, 0)
    for named, notified in cases:
        before = await sent_total(push_server, http)
        body = {"content": "ping", "mention_ids": [members[level].id for level in named]}
        _, data = await alice.call("POST", f"/api/rooms/{room['id']}/messages", body, expect=201)
        for level in notified:
            expected[level] += 1
            pushes = await service.wait(subs[level], expected[level])
            assert pushes[-1].payload is not None
            assert pushes[-1].payload["message_id"] == data["message"]["id"]
        total = before + len(notified)
        await wait_for_metric(http, push_server.url, "campfire_push_sent_total", total)
        assert {level: len(service.to(subs[level])) for level in levels} == expected, named

    # A direct room notifies by default (involvement everything there).
    dm = await alice.create_room("dm", "direct", [members["nothing"].id])
    await alice.send(dm["id"], "psst")
    [push] = await service.wait(subs["nothing"], 1)
    assert push.payload is not None
    assert (push.payload["title"], push.payload["body"]) == ("alice", "psst")


async def test_gone_subscriptions_are_deleted(push_server, service, people, http) -> None:
    alice, bob = await people("alice"), await people("bob")
    room = await alice.create_room("Gone", "open", [bob.id])
    await involve(bob, room["id"], "everything")
    gone = service.subscriber(status=410)
    await subscribe(bob, gone)
    before = await metric(http, push_server.url, "campfire_push_gone_total")
    await alice.send(room["id"], "anyone there?")
    await service.wait(gone, 1)
    await wait_for_metric(http, push_server.url, "campfire_push_gone_total", before + 1)
    await alice.send(room["id"], "hello?")
    # Deleted: storing it again is new (201), and the second message was not pushed to it.
    await subscribe(bob, gone, expect=201)
    assert len(service.to(gone)) == 1


async def test_failing_pushes_are_retried_then_dropped_and_counted(
    push_server, service, people, http
) -> None:
    alice, bob = await people("alice"), await people("bob")
    room = await alice.create_room("Flaky", "open", [bob.id])
    await involve(bob, room["id"], "everything")
    broken = service.subscriber(status=500)
    await subscribe(bob, broken)
    dropped = await metric(http, push_server.url, "campfire_push_dropped_total")
    retried = await metric(http, push_server.url, "campfire_push_retried_total")
    await alice.send(room["id"], "are you there?")
    attempts = await service.wait(broken, 3)  # CAMPFIRE_PUSH_ATTEMPTS
    await wait_for_metric(http, push_server.url, "campfire_push_dropped_total", dropped + 1)
    assert await metric(http, push_server.url, "campfire_push_retried_total") == retried + 2
    assert len({p.payload["message_id"] for p in attempts if p.payload}) == 1
    # Still subscribed: only 404 and 410 delete.
    await subscribe(bob, broken, expect=200)


async def test_subscriptions_are_validated_and_deleted(push_server, service, people) -> None:
    bob, eve = await people("bob"), await people("eve")
    sub = service.subscriber()
    await subscribe(bob, sub)
    bad = [
        {**sub.json, "endpoint": "ftp://push.example/x"},
        {**sub.json, "keys": {"p256dh": "AAAA", "auth": sub.json["keys"]["auth"]}},
        {**sub.json, "keys": {"p256dh": sub.json["keys"]["p256dh"], "auth": "c2hvcnQ"}},
        {"endpoint": sub.endpoint},
    ]
    for body in bad:
        _, error = await bob.call("POST", "/api/push/subscriptions", body, expect=422)
        assert error["code"] == "invalid_message_format"
    # Another user cannot delete it; its owner can (and again, harmlessly).
    await eve.call("DELETE", "/api/push/subscriptions", {"endpoint": sub.endpoint}, expect=204)
    await subscribe(bob, sub, expect=200)
    await bob.call("DELETE", "/api/push/subscriptions", {"endpoint": sub.endpoint}, expect=204)
    await bob.call("DELETE", "/api/push/subscriptions", {"endpoint": sub.endpoint}, expect=204)
    await subscribe(bob, sub, expect=201)
    async with bob.http.post(push_server.url + "/api/push/subscriptions", json=sub.json) as r:
        assert r.status == 401


async def test_https_is_required_without_the_test_switch(make_server, http) -> None:
    server = make_server()  # no CAMPFIRE_PUSH_ALLOW_HTTP
    admin = await login(http, server.url, ADMIN_EMAIL)
    sub = Subscriber(endpoint="http://push.example.com/x")
    _, error = await admin.call("POST", "/api/push/subscriptions", sub.json, expect=422)
    assert error["code"] == "invalid_message_format"
    sub.endpoint = "https://127.0.0.1/x"
    await admin.call("POST", "/api/push/subscriptions", sub.json, expect=422)
    sub.endpoint = "https://push.example.com/x"
    await admin.call("POST", "/api/push/subscriptions", sub.json, expect=201)
    # The key pair is made once and stored: a restart publishes the same key.
    async with http.get(server.url + "/api/push/vapid_public_key") as response:
        key = (await response.json())["key"]
    server.stop()
    server.start()
    async with http.get(server.url + "/api/push/vapid_public_key") as response:
        assert (await response.json())["key"] == key


async def test_a_configured_vapid_key_is_used(make_server, http) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.push_support import b64url

    key = ec.generate_private_key(ec.SECP256R1())
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    server = make_server(CAMPFIRE_VAPID_PRIVATE_KEY=raw)
    async with http.get(server.url + "/api/push/vapid_public_key") as response:
        published = (await response.json())["key"]
    from cryptography.hazmat.primitives import serialization

    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert published == b64url(point)
