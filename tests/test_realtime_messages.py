"""Messages over sockets: acks, fan-out, idempotency, validation, rate limits, replay."""

from __future__ import annotations

import asyncio

from tests.support import ADMIN_EMAIL, Client, login, new_id


def msg(room_id: str, content: str = "hi", cmid: str | None = None) -> dict:
    return {"room_id": room_id, "content": content, "client_message_id": cmid or new_id()}


async def test_fan_out_reaches_every_tab_including_the_sender(server, user_factory) -> None:
    alice, bob, carol = [await user_factory(n) for n in ("alice", "bob", "carol")]
    room = await alice.create_room("team", "closed", [bob.id])
    tabs = [
        await Client(server.url).connect(auth={"token": t})
        for t in (alice.token, alice.token, bob.token)
    ]
    outsider = await Client(server.url).connect(auth={"token": carol.token})
    try:
        for tab in [*tabs, outsider]:
            await tab.synced()
        cmid = new_id()
        ack = await tabs[0].call("NewMessage", msg(room["id"], "to all", cmid))
        assert ack["type"] == "MessageDelivered"
        for tab in tabs:
            got = await tab.wait_for(
                "NewMessage", lambda d: d["message"]["client_message_id"] == cmid
            )
            assert got["message"]["seq"] == ack["data"]["seq"]
            assert got["message"]["id"] == ack["data"]["message_id"]
        # An HTTP send takes the same path, broadcast included.
        via_http = await bob.send(room["id"], "over http")
        for tab in tabs:
            await tab.wait_for("NewMessage", lambda d: d["message"]["id"] == via_http["id"])
        assert all(d["room_id"] != room["id"] for d in outsider.named("NewMessage"))
    finally:
        for tab in [*tabs, outsider]:
            await tab.close()


async def test_resend_is_idempotent_and_reuse_is_a_conflict(server, user_factory) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("r", "closed")
    other = await alice.create_room("other", "closed")
    client = await Client(server.url).connect(auth={"token": alice.token})
    try:
        await client.synced()
        cmid = new_id()
        first = await client.call("NewMessage", msg(room["id"], "once", cmid))
        again = await client.call("NewMessage", msg(room["id"], "once", cmid))
        assert again == first
        http_again = await alice.call(
            "POST",
            f"/api/rooms/{room['id']}/messages",
            {"content": "once", "client_message_id": cmid},
        )
        assert (
            http_again[0] == 200 and http_again[1]["message"]["id"] == first["data"]["message_id"]
        )
        for clash in (msg(room["id"], "different", cmid), msg(other["id"], "once", cmid)):
            refused = await client.call("NewMessage", clash)
            assert refused["type"] == "MessageError" and refused["data"]["code"] == "conflict"
        assert [m["content"] for m in await alice.history(room["id"])] == ["once"]
        assert await alice.history(other["id"]) == []
        # Exactly one broadcast for the one stored message.
        await client.wait_for("NewMessage", lambda d: d["message"]["client_message_id"] == cmid)
        assert (
            len(
                [d for d in client.named("NewMessage") if d["message"]["client_message_id"] == cmid]
            )
            == 1
        )
    finally:
        await client.close()


MALFORMED: list[tuple[str, object]] = [
    ("NewMessage", None),
    ("NewMessage", "a string"),
    ("NewMessage", 42),
    ("NewMessage", []),
    ("NewMessage", {}),
    ("NewMessage", {"room_id": "ROOM", "content": "x", "client_message_id": "y"}),
    ("NewMessage", {"content": "x", "client_message_id": "{cmid}"}),
    ("NewMessage", {"room_id": "{room}", "client_message_id": "{cmid}"}),
    ("NewMessage", {"room_id": "{room}", "content": "x"}),
    ("NewMessage", {"room_id": "{room}", "content": "", "client_message_id": "{cmid}"}),
    ("NewMessage", {"room_id": "{room}", "content": "   \n\t ", "client_message_id": "{cmid}"}),
    ("NewMessage", {"room_id": "{room}", "content": "x" * 10_001, "client_message_id": "{cmid}"}),
    ("NewMessage", {"room_id": "{room}", "content": 7, "client_message_id": "{cmid}"}),
    ("NewMessage", {"room_id": "{room}", "content": ["x"], "client_message_id": "{cmid}"}),
    ("NewMessage", {"room_id": "{room}", "content": "x", "client_message_id": 12}),
    ("NewMessage", {"room_id": "{room}", "content": "x", "client_message_id": "not-a-uuid"}),
    ("NewMessage", {"room_id": 1, "content": "x", "client_message_id": "{cmid}"}),
    (
        "NewMessage",
        {"room_id": "{room}", "content": "x", "client_message_id": "{cmid}", "extra": 1},
    ),
    ("NewMessage", {"room_id": None, "content": "x", "client_message_id": "{cmid}"}),
    ("TypingStart", {}),
    ("TypingStart", {"room_id": 5}),
    ("TypingStop", "room"),
    ("GetPresence", {"room_id": "nope"}),
    ("JoinRoom", {"room_id": ["{room}"]}),
    ("LeaveRoom", None),
    ("Ping", "ping"),
    ("NoSuchEvent", {}),
    ("newmessage", {"room_id": "{room}"}),
]


def _fill(value: object, room_id: str) -> object:
    if isinstance(value, dict):
        return {k: _fill(v, room_id) for k, v in value.items()}
    if value == "{room}":
        return room_id
    if value == "{cmid}":
        return new_id()
    return value


async def test_malformed_payloads_are_refused_while_others_chat(server, user_factory) -> None:
    mallory, alice, bob = (
        await user_factory("mallory"),
        await user_factory("alice"),
        await user_factory("bob"),
    )
    room = await alice.create_room("busy", "open")
    for user in (mallory, bob):
        await user.call(
            "POST", f"/api/rooms/{room['id']}/members", {"user_id": user.id}, expect=201
        )
    bad = await Client(server.url).connect(auth={"token": mallory.token})
    a = await Client(server.url).connect(auth={"token": alice.token})
    b = await Client(server.url).connect(auth={"token": bob.token})
    try:
        for c in (bad, a, b):
            await c.synced()

        async def chatter() -> list[int]:
            seqs = []
            for i in range(10):
                ack = await a.call("NewMessage", msg(room["id"], f"still here {i}"))
                seqs.append(ack["data"]["seq"])
            return seqs

        chatting = asyncio.create_task(chatter())
        for event, payload in MALFORMED:
            answer = await bad.call(event, _fill(payload, room["id"]))
            expected_type = "MessageError" if event == "NewMessage" else "Error"
            assert answer["type"] == expected_type, (event, payload, answer)
            assert answer["data"]["code"] == "invalid_message_format", (event, payload, answer)
            text = answer["data"]["error" if event == "NewMessage" else "message"]
            assert isinstance(text, str) and text
        # Without an ack callback, the failure arrives as an Error event.
        await bad.sio.emit("NewMessage", {"room_id": "x"})
        assert (await bad.wait_for("Error"))["code"] == "invalid_message_format"
        # Several payload arguments are refused too.
        await bad.sio.emit("TypingStart", ({"room_id": room["id"]}, {"room_id": room["id"]}))
        await bad.wait_for("Error", lambda e: "one JSON object" in e["message"])

        seqs = await chatting
        assert seqs == list(range(1, 11))
        await b.wait_for("NewMessage", lambda d: d["message"]["content"] == "still here 9")
        # Nothing of the bad input was stored; the bad client still works.
        assert [m["content"] for m in await alice.history(room["id"])] == [
            f"still here {i}" for i in range(10)
        ]
        assert (await bad.call("Ping"))["type"] == "Pong"
    finally:
        for c in (bad, a, b):
            await c.close()


async def test_non_member_is_refused_everything(server, user_factory) -> None:
    owner, outsider, insider = (
        await user_factory("owner"),
        await user_factory("outsider"),
        await user_factory("in"),
    )
    room = await owner.create_room("secret", "closed", [insider.id])
    watcher = await Client(server.url).connect(auth={"token": insider.token})
    client = await Client(server.url).connect(auth={"token": outsider.token})
    try:
        await watcher.synced()
        await client.synced()
        seen = len(watcher.events)
        ack = await client.call("NewMessage", msg(room["id"], "let me in"))
        assert ack["data"]["code"] == "room_access_denied"
        for event in ("TypingStart", "GetPresence", "JoinRoom", "TypingStop", "LeaveRoom"):
            answer = await client.call(event, {"room_id": room["id"]})
            assert answer == {
                "type": "Error",
                "data": {"message": answer["data"]["message"], "code": "room_access_denied"},
            }, event
        assert (await client.call("GetPresence", {"room_id": new_id()}))["data"][
            "code"
        ] == "not_found"
        assert await owner.history(room["id"]) == []
        # A marker message proves the watcher's stream is live and got nothing from the outsider.
        marker = await owner.send(room["id"], "marker")
        await watcher.wait_for("NewMessage", lambda d: d["message"]["id"] == marker["id"])
        names = [name for name, _ in watcher.events[seen:]]
        assert "TypingStart" not in names and "RoomJoined" not in names
        assert len([n for n in names if n == "NewMessage"]) == 1
    finally:
        await watcher.close()
        await client.close()


async def test_sends_over_the_message_rate_are_refused_and_http_shares_the_budget(
    make_server, http
) -> None:
    server = make_server(CAMPFIRE_MESSAGE_RATE="60")
    admin = await login(http, server.url, ADMIN_EMAIL)
    room = await admin.create_room("fast", "open")
    client = await Client(server.url).connect(auth={"token": admin.token})
    try:
        await client.synced()
        first = new_id()
        acks = [
            await client.call("NewMessage", msg(room["id"], f"m{i}", first if i == 0 else None))
            for i in range(60)
        ]
        assert all(a["type"] == "MessageDelivered" for a in acks)
        refused = await client.call("NewMessage", msg(room["id"], "one too many"))
        assert refused["type"] == "MessageError"
        assert refused["data"]["code"] == "rate_limit_exceeded"
        assert 0 < refused["data"]["retry_after"] <= 60
        # A resend of a stored message is answered even over the limit.
        assert (await client.call("NewMessage", msg(room["id"], "m0", first))) == acks[0]
        # HTTP shares the budget.
        status, body = await admin.call(
            "POST", f"/api/rooms/{room['id']}/messages", {"content": "http"}
        )
        assert status == 429 and body["code"] == "rate_limit_exceeded"
        assert len(await admin.history(room["id"], limit=200)) == 60
    finally:
        await client.close()


async def test_typing_start_over_the_typing_rate_is_refused_with_retry_after(
    make_server, http
) -> None:
    # PROTOCOL.md section 6: 10 TypingStart a minute by default. (A refresh paced like the relay
    # is free, docs/protocol-notes.md; a refresh interval longer than the expiry makes none free,
    # so that a slow machine cannot turn one of these into a paced refresh.)
    from app.config import Settings

    assert Settings.model_fields["typing_rate"].default == 10
    server = make_server(CAMPFIRE_TYPING_RATE="10", CAMPFIRE_TYPING_REFRESH_SECONDS="60")
    admin = await login(http, server.url, ADMIN_EMAIL)
    room = await admin.create_room("typing", "open")
    client = await Client(server.url).connect(auth={"token": admin.token})
    try:
        await client.synced()
        for _ in range(10):
            assert (await client.call("TypingStart", {"room_id": room["id"]}))["type"] == "Ok"
        refused = await client.call("TypingStart", {"room_id": room["id"]})
        assert refused["data"]["code"] == "rate_limit_exceeded"
        assert 0 < refused["data"]["retry_after"] <= 60
    finally:
        await client.close()


async def test_sender_order_and_gapless_seqs_under_concurrency(server, user_factory) -> None:
    users = [await user_factory(f"u{i}") for i in range(4)]
    room = await users[0].create_room("crowd", "closed", [u.id for u in users[1:]])
    clients = [await Client(server.url).connect(auth={"token": u.token}) for u in users]
    try:
        for c in clients:
            await c.synced()

        async def burst(client: Client, n: int) -> list[int]:
            # Emitted back to back without waiting: the server keeps one sender's order.
            futures = [
                asyncio.ensure_future(
                    client.call("NewMessage", msg(room["id"], f"{id(client)}-{i}"))
                )
                for i in range(n)
            ]
            return [(await f)["data"]["seq"] for f in futures]

        results = await asyncio.gather(*(burst(c, 50) for c in clients))
        for seqs in results:
            assert seqs == sorted(seqs)
        assert sorted(s for seqs in results for s in seqs) == list(range(1, 201))
        history = await users[0].history(room["id"], limit=200)
        assert [m["seq"] for m in history] == list(range(1, 201))
    finally:
        for c in clients:
            await c.close()


async def test_replay_honours_no_cursor_last_seen_and_last_seen_message_id(
    server, user_factory
) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    first = await alice.create_room("first", "closed", [bob.id])
    second = await alice.create_room("second", "closed", [bob.id])
    sent = []
    for i in range(60):
        room = first if i % 2 == 0 else second
        sent.append(await alice.send(room["id"], f"m{i}"))

    # No cursor: the 50 most recent of each room (30 each here).
    c = await Client(server.url).connect(auth={"token": bob.token})
    sync = await c.synced()
    assert sync["missed_count"] == 60 and sync["truncated"] is False
    assert {r["room_id"]: r["last_seq"] for r in sync["rooms"]} == {
        first["id"]: 30,
        second["id"]: 30,
    }
    await c.close()

    # last_seen per room; a room missing from it gets its recent messages.
    c = await Client(server.url).connect(auth={"token": bob.token, "last_seen": {first["id"]: 28}})
    sync = await c.synced()
    replayed = [(d["room_id"], d["message"]["seq"]) for d in c.named("NewMessage")]
    assert [s for r, s in replayed if r == first["id"]] == [29, 30]
    assert [s for r, s in replayed if r == second["id"]] == list(range(1, 31))
    assert sync["missed_count"] == 32
    await c.close()

    # last_seen_message_id: everything stored after it, across rooms, in insertion order.
    c = await Client(server.url).connect(
        auth={"token": bob.token, "last_seen_message_id": sent[55]["id"]}
    )
    sync = await c.synced()
    assert [d["message"]["id"] for d in c.named("NewMessage")] == [m["id"] for m in sent[56:]]
    assert sync["missed_count"] == 4
    await c.close()

    # An unknown message id counts as no cursor.
    c = await Client(server.url).connect(
        auth={"token": bob.token, "last_seen_message_id": new_id()}
    )
    assert (await c.synced())["missed_count"] == 60
    await c.close()


async def test_replay_is_capped_at_500_per_room(server, user_factory) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("long", "closed")
    client = await Client(server.url).connect(auth={"token": alice.token})
    await client.synced()
    acks = await asyncio.gather(
        *(client.call("NewMessage", msg(room["id"], f"n{i}")) for i in range(520))
    )
    assert sorted(a["data"]["seq"] for a in acks) == list(range(1, 521))
    await client.close()
    again = await Client(server.url).connect(
        auth={"token": alice.token, "last_seen": {room["id"]: 5}}
    )
    try:
        sync = await again.synced(timeout=20)
        seqs = [d["message"]["seq"] for d in again.named("NewMessage")]
        assert seqs == list(range(6, 506))
        assert sync["truncated"] is True and sync["missed_count"] == 500
        # The rest is paged forward over HTTP by after_seq.
        rest = await alice.history(room["id"], after_seq=505)
        assert [m["seq"] for m in rest] == list(range(506, 521))
    finally:
        await again.close()


async def test_a_gap_is_visible_from_seq_and_fillable(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("gap", "closed", [bob.id])
    watcher = await Client(server.url).connect(auth={"token": bob.token})
    await watcher.synced()
    await alice.send(room["id"], "six")
    await watcher.wait_for("NewMessage", lambda d: d["message"]["seq"] == 1)
    await watcher.close()
    await alice.send(room["id"], "seven (missed)")
    again = await Client(server.url).connect(
        auth={"token": bob.token, "last_seen": {room["id"]: 2}}
    )
    try:
        await again.synced()
        third = await alice.send(room["id"], "eight")
        got = await again.wait_for("NewMessage", lambda d: d["message"]["id"] == third["id"])
        assert got["message"]["seq"] == 3  # the client last saw 1 (claimed 2): seq 2 is missing
        filled = await bob.history(room["id"], after_seq=1, before_seq=3)
        assert [m["content"] for m in filled] == ["seven (missed)"]
    finally:
        await again.close()
