"""Transports other than a plain websocket: long-polling, an upgrade from it, and websockets
with permessage-deflate. These take python-engineio's own code paths, not DirectSocket's."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.support import ADMIN_EMAIL, Client, login, new_id, wait_until


def _seqs(client: Client, room_id: str) -> list[int]:
    return [d["message"]["seq"] for d in client.named("NewMessage") if d["room_id"] == room_id]


async def test_polling_upgraded_and_websocket_clients_share_a_room(server, user_factory) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("mixed transports", "closed")
    auth = {"token": alice.token}
    polling = await Client(server.url).connect(auth=auth, transports=["polling"])
    upgraded = await Client(server.url).connect(auth=auth, transports=["polling", "websocket"])
    direct = await Client(server.url).connect(auth=auth)
    clients = [polling, upgraded, direct]
    try:
        for client in clients:
            await client.synced()
        await wait_until(lambda: upgraded.sio.transport() == "websocket")
        assert polling.sio.transport() == "polling"
        for i, client in enumerate(clients):
            ack = await client.call(
                "NewMessage",
                {"room_id": room["id"], "content": f"via {i}", "client_message_id": new_id()},
            )
            assert ack["type"] == "MessageDelivered" and ack["data"]["seq"] == i + 1
        for client in clients:
            await wait_until(lambda client=client: len(_seqs(client, room["id"])) >= 3)
            assert _seqs(client, room["id"]) == [1, 2, 3]
            assert (await client.call("Ping"))["type"] == "Pong"
        # A long-polling client's goodbye is answered at once; python-engineio on its own
        # would hold the client's pending GET until the ping timeout (45 s).
        await asyncio.wait_for(polling.sio.disconnect(), 10)
    finally:
        for client in clients:
            await client.close()


async def test_websocket_compression_when_enabled(make_server, http) -> None:
    server = make_server(CAMPFIRE_WEBSOCKET_COMPRESSION="true")
    admin = await login(http, server.url, ADMIN_EMAIL)
    room = await admin.create_room("deflated", "closed")
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket&token={admin.token}"
    for offer in (15, 0):  # a client that offers permessage-deflate, and one that does not
        async with http.ws_connect(url, compress=offer) as ws:
            assert bool(ws.compress) == bool(offer)
            assert (await ws.receive_str()).startswith("0")
            await ws.send_str("40")

            async def until(event: str, ws: aiohttp.ClientWebSocketResponse = ws) -> object:
                while True:
                    frame = await ws.receive_str(timeout=10)
                    if frame == "2":  # Engine.IO ping
                        await ws.send_str("3")
                    elif frame.startswith("42"):
                        name, data = json.loads(frame[2:])
                        if name == event:
                            return data

            await until("SyncComplete")
            content = f"offer {offer} " + "long enough to be worth deflating " * 20
            sent = await admin.send(room["id"], content)
            message = await until("NewMessage")
            assert message["message"]["id"] == sent["id"]  # type: ignore[index]
            assert message["message"]["content"] == content  # type: ignore[index]


async def test_replay_reaches_polling_and_websocket_clients_alike(server, user_factory) -> None:
    """A replay is written in one step to a websocket of this process and emitted event by
    event to a long-polling one (FanoutManager.write_events, and its fallback): both get the
    same messages, in order, before SyncComplete."""
    alice = await user_factory("alice")
    room = await alice.create_room("replayed", "closed")
    for i in range(30):
        await alice.send(room["id"], f"message {i + 1}")
    auth = {"token": alice.token, "last_seen": {room["id"]: 3}}
    polling = await Client(server.url).connect(auth=auth, transports=["polling"])
    direct = await Client(server.url).connect(auth=auth)
    try:
        for client in (polling, direct):
            sync = await client.synced()
            assert sync["missed_count"] == 27
            assert _seqs(client, room["id"]) == list(range(4, 31))
            contents = [d["message"]["content"] for d in client.named("NewMessage")]
            assert contents == [f"message {i}" for i in range(4, 31)]
            names = [name for name, _ in client.events]
            assert names.index("SyncComplete") > max(
                k for k, name in enumerate(names) if name == "NewMessage"
            )
        assert polling.sio.transport() == "polling" and direct.sio.transport() == "websocket"
    finally:
        for client in (polling, direct):
            await client.close()
