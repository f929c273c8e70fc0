"""Rooms and people events on live sockets (PROTOCOL.md 9.3): UserUpdated, RoomLeft on
deletion, session_revoked on a password change, account_deactivated on deactivation."""

from __future__ import annotations

import asyncio

from tests.support import PASSWORD, Client


async def test_profile_changes_reach_everyone_sharing_a_room(server, user_factory) -> None:
    me, mate, stranger = (
        await user_factory("me"),
        await user_factory("mate"),
        await user_factory("stranger"),
    )
    await me.create_room("ours", "closed", [mate.id])
    mine = await Client(server.url).connect(auth={"token": me.token})
    theirs = await Client(server.url).connect(auth={"token": mate.token})
    other = await Client(server.url).connect(auth={"token": stranger.token})
    try:
        for c in (mine, theirs, other):
            await c.synced()
        _, data = await me.call("PATCH", "/api/me", {"name": "Renamed"}, expect=200)
        for c in (mine, theirs):
            updated = await c.wait_for("UserUpdated", lambda d: d["user"]["id"] == me.id)
            assert updated["user"]["name"] == "Renamed"
            assert updated["user"]["avatar_url"] == data["user"]["avatar_url"]
        # The stranger shares no room: a marker in the stranger's own room arrives, the
        # update never did.
        marker = await stranger.send((await stranger.create_room("own", "closed"))["id"], "m")
        await other.wait_for("NewMessage", lambda d: d["message"]["id"] == marker["id"])
        assert other.named("UserUpdated") == []
    finally:
        for c in (mine, theirs, other):
            await c.close()


async def test_a_password_change_disconnects_the_other_sessions(server, user_factory, http) -> None:
    from tests.support import login

    me = await user_factory("changer")
    elsewhere = await login(http, server.url, me.user["email_address"])
    here = await Client(server.url).connect(auth={"token": me.token})
    there = await Client(server.url).connect(auth={"token": elsewhere.token})
    try:
        await here.synced()
        await there.synced()
        await me.call(
            "PATCH",
            "/api/me",
            {"password": "another long password", "current_password": PASSWORD},
            expect=200,
        )
        assert await there.wait_for("Disconnect") == {"reason": "session_revoked"}
        await asyncio.wait_for(there.disconnected.wait(), 10)
        # The session that made the change keeps its socket.
        assert (await here.call("Ping", {}))["type"] == "Pong"
        assert here.named("Disconnect") == []
    finally:
        await here.close()
        await there.close()


async def test_deleting_a_room_closes_every_members_subscription(server, user_factory) -> None:
    owner, member = await user_factory("owner"), await user_factory("member")
    room = await owner.create_room("doomed", "closed", [member.id])
    keep = await owner.create_room("kept", "closed", [member.id])
    tabs = [
        await Client(server.url).connect(auth={"token": token})
        for token in (owner.token, member.token, member.token)
    ]
    try:
        for tab in tabs:
            await tab.synced()
        await owner.call("DELETE", f"/api/rooms/{room['id']}", expect=204)
        for tab in tabs:
            assert await tab.wait_for("RoomLeft") == {"room_id": room["id"]}
        sent = await owner.send(keep["id"], "still talking")
        for tab in tabs:
            await tab.wait_for("NewMessage", lambda d: d["message"]["id"] == sent["id"])
        refused = await tabs[1].call("JoinRoom", {"room_id": room["id"]})
        assert refused["data"]["code"] == "not_found"
    finally:
        for tab in tabs:
            await tab.close()


async def test_deactivation_disconnects_every_socket_of_the_person(
    server, admin, user_factory
) -> None:
    gone, mate = await user_factory("leaver"), await user_factory("mate")
    room = await gone.create_room("shared", "closed", [mate.id])
    await gone.send(room["id"], "my last words")
    tabs = [await Client(server.url).connect(auth={"token": gone.token}) for _ in range(2)]
    try:
        for tab in tabs:
            await tab.synced()
        await admin.call("DELETE", f"/api/users/{gone.id}", expect=204)
        for tab in tabs:
            assert await tab.wait_for("Disconnect") == {"reason": "account_deactivated"}
            await asyncio.wait_for(tab.disconnected.wait(), 10)
        refusal = await Client(server.url).refused(auth={"token": gone.token})
        assert refusal["code"] == "auth_failed"
        assert [m["content"] for m in await mate.history(room["id"])] == ["my last words"]
    finally:
        for tab in tabs:
            await tab.close()
