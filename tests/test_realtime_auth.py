"""PROTOCOL.md section 2: the four ways to authenticate, and every way to fail."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.security import token_hash
from tests.support import ADMIN_EMAIL, Client, login, new_id, wait_for_metric


def _is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


async def _welcomed(client: Client, user_id: str) -> dict:
    success = await client.wait_for("AuthSuccess")
    assert success["user"]["id"] == user_id
    assert _is_uuid(success["connection_id"])
    await client.synced()
    return success


async def test_a_handshake_auth_token_signs_in_and_lists_the_users_rooms(
    server, user_factory
) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("mine", "closed")
    client = await Client(server.url).connect(auth={"token": alice.token})
    try:
        success = await _welcomed(client, alice.id)
        assert [r["id"] for r in success["rooms"]] == [room["id"]]
        assert success["rooms"][0]["member_ids"] == [alice.id]
    finally:
        await client.close()


async def test_a_handshake_bearer_header_signs_in(server, user_factory) -> None:
    alice = await user_factory("alice")
    client = await Client(server.url).connect(headers={"Authorization": f"Bearer {alice.token}"})
    try:
        await _welcomed(client, alice.id)
    finally:
        await client.close()


async def test_a_handshake_token_query_parameter_signs_in(server, user_factory) -> None:
    alice = await user_factory("alice")
    client = await Client(server.url).connect(f"?token={alice.token}")
    try:
        await _welcomed(client, alice.id)
    finally:
        await client.close()


async def test_an_auth_event_with_last_seen_replays_only_newer_messages(
    server, user_factory
) -> None:
    alice = await user_factory("alice")
    room = await alice.create_room("mine", "closed")
    for text in ("one", "two", "three"):
        await alice.send(room["id"], text)
    client = await Client(server.url).connect()
    try:
        answer = await client.call(
            "Auth", {"session_token": alice.token, "last_seen": {room["id"]: 1}}
        )
        assert answer["type"] == "AuthSuccess"
        await _welcomed(client, alice.id)
        assert [d["message"]["seq"] for d in client.named("NewMessage")] == [2, 3]
    finally:
        await client.close()


async def test_events_before_auth_are_refused(server) -> None:
    client = await Client(server.url).connect()
    try:
        room_id = new_id()
        ack = await client.call(
            "NewMessage", {"room_id": room_id, "content": "hi", "client_message_id": new_id()}
        )
        assert ack["type"] == "MessageError" and ack["data"]["code"] == "auth_required"
        ack = await client.call("GetPresence", {"room_id": room_id})
        assert ack == {
            "type": "Error",
            "data": {"message": ack["data"]["message"], "code": "auth_required"},
        }
        await client.sio.emit("TypingStart", {"room_id": room_id})
        error = await client.wait_for("Error")
        assert error["code"] == "auth_required"
    finally:
        await client.close()


async def test_a_wrong_token_in_the_auth_event_fails_and_disconnects(server) -> None:
    client = await Client(server.url).connect()
    await client.sio.emit("Auth", {"session_token": "not-a-token"})
    error = await client.wait_for("AuthError")
    assert error["code"] == "auth_failed" and error["error"]
    await client.disconnected.wait()


@pytest.mark.parametrize(
    ("how", "code"),
    [
        ({"auth": {"token": ""}}, "auth_required"),
        ({"auth": {"token": "wrong"}}, "auth_failed"),
        ({"headers": {"Authorization": "Bearer wrong"}}, "auth_failed"),
        ({"url_suffix": "?token=wrong"}, "auth_failed"),
        ({"url_suffix": "?token="}, "auth_required"),
    ],
)
async def test_refusals_carry_code_and_message(server, how, code) -> None:
    refusal = await Client(server.url).refused(**how)
    assert refusal["code"] == code
    assert isinstance(refusal["message"], str) and refusal["message"]


async def test_a_socket_that_never_authenticates_is_dropped_with_auth_timeout(make_server) -> None:
    server = make_server(CAMPFIRE_AUTH_TIMEOUT_SECONDS="1")
    client = await Client(server.url).connect()
    goodbye = await client.wait_for("Disconnect")
    assert goodbye == {"reason": "auth_timeout"}
    await client.disconnected.wait()


async def test_logout_disconnects_the_sessions_sockets(server, user_factory, http) -> None:
    alice = await user_factory("alice")
    client = await Client(server.url).connect(auth={"token": alice.token})
    await client.synced()
    await alice.call("DELETE", "/api/session", expect=204)
    assert await client.wait_for("Disconnect") == {"reason": "session_revoked"}
    await client.disconnected.wait()
    refusal = await Client(server.url).refused(auth={"token": alice.token})
    assert refusal["code"] == "auth_failed"


async def test_a_tab_over_the_per_user_limit_is_refused_until_one_closes(make_server, http) -> None:
    server = make_server(CAMPFIRE_MAX_CONNECTIONS_PER_USER="5")
    admin = await login(http, server.url, ADMIN_EMAIL)
    clients = [await Client(server.url).connect(auth={"token": admin.token}) for _ in range(5)]
    try:
        refusal = await Client(server.url).refused(auth={"token": admin.token})
        assert refusal["code"] == "too_many_connections"
        sixth = await Client(server.url).connect()
        await sixth.sio.emit("Auth", {"session_token": admin.token})
        assert (await sixth.wait_for("AuthError"))["code"] == "too_many_connections"
        await clients.pop(0).close()
        # After one tab closes (as the server sees it), a new one fits again.
        await wait_for_metric(http, server.url, "campfire_active_connections", 4.0)
        clients.append(await Client(server.url).connect(auth={"token": admin.token}))
        await clients[-1].synced()
    finally:
        for client in clients:
            await client.close()


async def test_over_the_total_connection_limit_the_server_is_overloaded(make_server, http) -> None:
    server = make_server(CAMPFIRE_MAX_CONNECTIONS="2")
    admin = await login(http, server.url, ADMIN_EMAIL)
    clients = [await Client(server.url).connect(auth={"token": admin.token}) for _ in range(2)]
    try:
        refusal = await Client(server.url).refused(auth={"token": admin.token})
        assert refusal["code"] == "server_overloaded"
        assert 0 < refusal["retry_after"] <= 60
    finally:
        for client in clients:
            await client.close()


async def test_handshakes_over_the_per_ip_rate_are_refused_with_retry_after(
    make_server, http
) -> None:
    server = make_server(CAMPFIRE_CONNECT_RATE="5")
    admin = await login(http, server.url, ADMIN_EMAIL)
    clients = []
    try:
        for _ in range(5):
            clients.append(await Client(server.url).connect(auth={"token": admin.token}))
        for client in clients:
            await client.close()
        refusal = await Client(server.url).refused(auth={"token": admin.token})
        assert refusal["code"] == "rate_limit_exceeded"
        assert 0 < refusal["retry_after"] <= 60
    finally:
        for client in clients:
            await client.close()


async def test_sessions_are_touched_hourly_and_expire(server, user_factory) -> None:
    """A session used after an hour is extended to a full TTL again; an expired one is
    refused, over HTTP and on a socket alike."""
    carol = await user_factory("carol")
    database = sqlite3.connect(server.workdir / "campfire.sqlite3")
    key = (token_hash(carol.token),)

    def stored() -> tuple[datetime, datetime]:
        last, expires = database.execute(
            "SELECT last_active_at, expires_at FROM sessions WHERE token_hash = ?", key
        ).fetchone()
        return datetime.fromisoformat(last), datetime.fromisoformat(expires)

    def set_times(last: datetime, expires: datetime) -> None:
        with database:
            database.execute(
                "UPDATE sessions SET last_active_at = ?, expires_at = ? WHERE token_hash = ?",
                (str(last), str(expires), *key),
            )

    try:
        now = datetime.now(UTC).replace(tzinfo=None)
        set_times(now - timedelta(hours=2), now + timedelta(minutes=5))
        await carol.call("GET", "/api/me", expect=200)
        last, expires = stored()
        assert last > now - timedelta(minutes=1)
        assert expires > now + timedelta(days=29)

        # Used again within the hour: not written again.
        set_times(now - timedelta(minutes=30), now + timedelta(minutes=5))
        await carol.call("GET", "/api/me", expect=200)
        assert stored() == (now - timedelta(minutes=30), now + timedelta(minutes=5))

        set_times(now - timedelta(minutes=30), now - timedelta(seconds=1))
        _, body = await carol.call("GET", "/api/me", expect=401)
        assert body["code"] == "auth_failed"
        refused = await Client(server.url).refused(auth={"token": carol.token})
        assert refused["code"] == "auth_failed"
    finally:
        database.close()


async def test_a_session_outlives_a_restart(make_server, http) -> None:
    """Tokens are stored, not held in memory: after a restart the same token works, even as
    the very first thing the new process is asked."""
    server = make_server()
    admin = await login(http, server.url, ADMIN_EMAIL)
    server.stop()
    server.start()
    _, me = await admin.call("GET", "/api/me", expect=200)
    assert me["user"]["id"] == admin.id
    client = await Client(server.url).connect(auth={"token": admin.token})
    try:
        await _welcomed(client, admin.id)
    finally:
        await client.close()
