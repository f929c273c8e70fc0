"""Hostile frames on a raw websocket: reserved event names and floods of malformed frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.support import ADMIN_EMAIL, WAIT, Api, Client, ServerProcess, login, new_id


class RawSocket:
    """Engine.IO v4 / Socket.IO v5 spoken by hand over aiohttp's websocket client."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[str] = []

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, base: str, token: str) -> RawSocket:
        ws = await http.ws_connect(base + "/socket.io/?EIO=4&transport=websocket")
        raw = cls(ws)
        opened = await raw.next(lambda f: f.startswith("0"))
        assert "sid" in json.loads(opened[1:])
        await ws.send_str("40" + json.dumps({"token": token}))
        await raw.next(lambda f: f.startswith("40"))
        await raw.next(lambda f: f.startswith('42["SyncComplete"'))
        return raw

    async def next(self, match: Any, timeout: float = WAIT) -> str:
        async def scan() -> str:
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"socket closed: {message.type}")
                frame = message.data
                if frame == "2":  # Engine.IO ping: answer it, as a client must
                    await self.ws.send_str("3")
                    continue
                self.frames.append(frame)
                if match(frame):
                    return frame

        return await asyncio.wait_for(scan(), timeout)

    async def call(self, ack_id: int, event: Any, data: Any) -> Any:
        await self.ws.send_str(f"42{ack_id}" + json.dumps([event, data]))
        frame = await self.next(lambda f: f.startswith(f"43{ack_id}["))
        return json.loads(frame[len(f"43{ack_id}") :])[0]


async def setup_users(
    http: aiohttp.ClientSession, server: ServerProcess, count: int
) -> tuple[list[Api], dict[str, Any]]:
    admin = await login(http, server.url, ADMIN_EMAIL)
    users = [
        await login(http, server.url, (await admin.create_user(f"u{i}"))["email_address"])
        for i in range(count)
    ]
    room = await admin.create_room("hostile", "closed", [u.id for u in users])
    return users, room


async def test_reserved_event_names_are_refused_and_change_nothing(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    server = make_server(CAMPFIRE_MAX_CONNECTIONS_PER_USER="2")
    (attacker, watcher), room = await setup_users(http, server, 2)
    observer = Client(server.url)
    await observer.connect(auth={"token": watcher.token})
    await observer.synced()
    sockets = [await RawSocket.open(http, server.url, attacker.token) for _ in range(2)]
    await observer.wait_for("UserJoined", lambda d: d["user_id"] == attacker.id)
    try:
        for raw in sockets:
            for i, name in enumerate(["disconnect", "connect", "disconnecting", "*"]):
                answer = await raw.call(i + 1, name, {})
                assert answer["type"] == "Error", answer
                assert answer["data"]["code"] == "invalid_message_format", answer
            # Without an ack: an Error event, and still nothing else happens.
            await raw.ws.send_str('42["disconnect",{}]')
            error = await raw.next(lambda f: f.startswith('42["Error"'))
            assert "invalid_message_format" in error
        # The sockets still work and still count: a third connection is over the limit of 2.
        ack = await sockets[0].call(
            9,
            "NewMessage",
            {"room_id": room["id"], "content": "still here", "client_message_id": new_id()},
        )
        assert ack["type"] == "MessageDelivered", ack
        await observer.wait_for("NewMessage", lambda d: d["message"]["content"] == "still here")
        refusal = await Client(server.url).refused(auth={"token": attacker.token})
        assert refusal["code"] == "too_many_connections"
        # Nobody was told that the attacker left.
        assert [d for d in observer.named("UserLeft") if d["user_id"] == attacker.id] == []
    finally:
        for raw in sockets:
            await raw.ws.close()
        await observer.close()


async def test_a_flood_of_malformed_frames_writes_a_few_log_lines(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    server = make_server()
    (attacker, _), room = await setup_users(http, server, 2)
    raw = await RawSocket.open(http, server.url, attacker.token)
    before = server.log_path.stat().st_size
    bad = [
        '42["disconnect",{}]',
        '42["NoSuchEvent",{}]',
        '42["NewMessage","not an object"]',
        '42["NewMessage",{"room_id":1}]',
        "42[7,{}]",
        "42[null]",
        "42{not json",
        "4x",
    ]
    for i in range(200):
        await raw.ws.send_str(bad[i % len(bad)])
    # Still served after the flood: the answer to this comes after every frame above.
    ack = await raw.call(
        1, "NewMessage", {"room_id": room["id"], "content": "after", "client_message_id": new_id()}
    )
    assert ack["type"] == "MessageDelivered", ack
    await raw.ws.close()
    written = server.log_path.stat().st_size - before
    # Before: ~125 KB of tracebacks for 200 frames. A few lines per kind of frame now.
    assert written < 25_000, server.log_path.read_text()[-3000:]
