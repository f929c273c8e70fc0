"""The web client library (web/client/messages.js) in Node with the real socket.io-client,
against a live server: changes made while it was offline are there after it reconnects, over
the socket (replay by last_rev) and over the HTTP polling fallback (after_rev)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support import ROOT


@pytest.mark.parametrize("mode", ["socket", "polling"])
async def test_the_js_client_recovers_changes_made_while_offline(
    server, user_factory, mode: str
) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("js", "closed", [bob.id])
    process = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests/js/lifecycle_check.mjs"),
        server.url,
        alice.token,
        bob.token,
        bob.id,
        room["id"],
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, (out.decode()[-2000:], err.decode()[-2000:])
    report = json.loads(out)
    assert report["seenBefore"] == 4 and report["revBefore"] == 1
    kept, edited, boosted, deleted = report["messages"]
    assert [m["id"] for m in report["messages"]] == report["ids"]
    assert kept["content"] == "kept, edited while online"
    assert edited["content"] == "edited twice while B was away" and edited["rev"] == 5
    assert [b["id"] for b in boosted["boosts"]] == [report["boostId"]]
    assert deleted["deleted"] is True and deleted["content"] == ""
    assert report["revAfter"] == 5
