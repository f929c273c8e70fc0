"""The real socket.io-client from npm (Node) against a live server: the browser's library."""

from __future__ import annotations

import asyncio
import json

from tests.support import ROOT


async def test_socket_io_client_speaks_the_protocol(server, user_factory) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("js", "closed")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests/js/protocol_check.mjs"),
        server.url,
        alice.token,
        room["id"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    names = [name for name, _ in report["events"]]
    assert names[0] == "AuthSuccess" and names[1] == "PresenceUpdate"
    assert names.index("SyncComplete") > names.index("PresenceUpdate")
    assert report["ack"]["type"] == "MessageDelivered" and report["ack"]["data"]["seq"] == 1
    assert report["invalid"]["type"] == "MessageError"
    assert report["invalid"]["data"]["code"] == "invalid_message_format"
    assert report["pong"] == {"type": "Pong", "data": {}}
    assert report["wrong"]["data"]["code"] == "auth_failed"
    assert report["empty"]["data"]["code"] == "auth_required"
    assert report["wrong"]["message"]
    assert [m["content"] for m in await alice.history(room["id"])] == ["from node"]
