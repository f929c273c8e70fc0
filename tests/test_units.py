"""Unit tests of small pure pieces: token extraction, client addresses, payload validation,
and the in-memory state's presence, typing and rate-limit rules with a controlled clock."""

from __future__ import annotations

import ipaddress

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from app.errors import CampfireError
from app.metrics import Metrics
from app.net import client_ip
from app.realtime.gateway import _cursors, _handshake_token
from app.schemas import NewMessageIn, parse
from app.state import ConnectionInfo, MemoryState


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def conn(cid: str, user: str, session: str = "s") -> ConnectionInfo:
    return ConnectionInfo(cid, f"sid-{cid}", user, session, "p")


def test_handshake_token_sources_and_precedence() -> None:
    assert _handshake_token({}, {"token": "a"}) == "a"
    assert _handshake_token({"HTTP_AUTHORIZATION": "Bearer b"}, None) == "b"
    assert _handshake_token({"QUERY_STRING": "EIO=4&token=c"}, None) == "c"
    assert _handshake_token({"HTTP_AUTHORIZATION": "Bearer b"}, {"token": "a"}) == "a"
    assert _handshake_token({"QUERY_STRING": "EIO=4&transport=websocket"}, {}) is None
    for environ, auth in [
        ({}, {"token": ""}),
        ({}, {"token": 5}),
        ({"HTTP_AUTHORIZATION": "Basic x"}, None),
        ({"QUERY_STRING": "token="}, None),
    ]:
        with pytest.raises(CampfireError) as refused:
            _handshake_token(environ, auth)
        assert refused.value.code == "auth_required"


def test_cursors_are_validated() -> None:
    assert _cursors({"token": "t", "last_seen": {"r": 3}}).last_seen == {"r": 3}
    assert not _cursors({"token": "t"}).present
    with pytest.raises(CampfireError):
        _cursors({"last_seen": {"r": "three"}})
    with pytest.raises(CampfireError):
        _cursors({"last_seen": {"r": -1}})


def _request(peer: str, forwarded: str | None = None) -> web.Request:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}

    class Transport:
        def get_extra_info(self, name: str) -> object:
            return (peer, 1234) if name == "peername" else None

    return make_mocked_request("GET", "/", headers=headers, transport=Transport())


def test_client_ip_trusts_only_configured_proxies() -> None:
    proxies = [ipaddress.ip_network("10.0.0.0/8")]
    assert client_ip(_request("203.0.113.9", "1.2.3.4"), []) == "203.0.113.9"
    assert client_ip(_request("203.0.113.9", "1.2.3.4"), proxies) == "203.0.113.9"
    assert client_ip(_request("10.0.0.2", "1.2.3.4"), proxies) == "1.2.3.4"
    assert client_ip(_request("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.7"), proxies) == "1.2.3.4"
    assert client_ip(_request("10.0.0.2"), proxies) == "10.0.0.2"


def test_content_rules_count_code_points() -> None:
    base = {
        "room_id": "550e8400-e29b-41d4-a716-446655440000",
        "client_message_id": "123e4567-e89b-12d3-a456-426614174000",
    }
    assert parse(NewMessageIn, {**base, "content": "🔥" * 10_000}).content == "🔥" * 10_000
    for content in ("", " \u00a0\n", "🔥" * 10_001):
        with pytest.raises(CampfireError) as refused:
            parse(NewMessageIn, {**base, "content": content})
        assert refused.value.code == "invalid_message_format"


async def test_a_user_is_online_from_the_first_connection_to_the_last() -> None:
    state = MemoryState(Clock())
    first = await state.add_connection(conn("c1", "u"), max_per_user=5, max_total=10)
    second = await state.add_connection(conn("c2", "u"), max_per_user=5, max_total=10)
    assert (first.user_connection_count, second.user_connection_count) == (1, 2)
    assert await state.online_users(["u", "v"]) == {"u"}
    _, left = await state.remove_connection("c1")
    assert left == 1 and await state.online_users(["u"]) == {"u"}
    _, left = await state.remove_connection("c2")
    assert left == 0 and await state.online_users(["u"]) == set()


async def test_connections_over_the_per_user_or_total_limit_are_refused() -> None:
    state = MemoryState(Clock())
    for i in range(2):
        assert (
            await state.add_connection(conn(f"c{i}", "u"), max_per_user=2, max_total=3)
        ).accepted
    assert (
        await state.add_connection(conn("c9", "u"), max_per_user=2, max_total=3)
    ).refusal == "user_limit"
    assert (await state.add_connection(conn("d1", "v"), max_per_user=2, max_total=3)).accepted
    assert (
        await state.add_connection(conn("d2", "v"), max_per_user=2, max_total=3)
    ).refusal == "total_limit"


async def test_stale_connections_by_heartbeat() -> None:
    clock = Clock()
    state = MemoryState(clock)
    await state.add_connection(conn("old", "u"), max_per_user=0, max_total=0)
    await state.add_connection(conn("fresh", "v"), max_per_user=0, max_total=0)
    clock.now += 200
    await state.heartbeat(["fresh"])
    clock.now += 150
    assert [c.connection_id for c in await state.stale_connections(300)] == ["old"]


async def test_typing_expires_after_the_last_refresh_not_the_first_start() -> None:
    clock = Clock()
    state = MemoryState(clock)
    assert await state.start_typing("r", "u") is True
    clock.now += 4
    assert await state.start_typing("r", "u") is False  # a refresh
    clock.now += 4
    assert await state.expire_typing(5) == []
    clock.now += 2
    assert await state.expire_typing(5) == [("r", "u")]
    assert await state.stop_typing("r", "u") is False
    await state.start_typing("r1", "u")
    await state.start_typing("r2", "u")
    assert sorted(await state.stop_typing_everywhere("u")) == ["r1", "r2"]


async def test_rate_window_slides_and_a_released_token_frees_its_slot() -> None:
    clock = Clock()
    state = MemoryState(clock)
    tokens = []
    for _ in range(3):
        decision = await state.acquire_rate("k", 3, 60)
        assert decision.allowed
        tokens.append(decision.token)
        clock.now += 10
    refused = await state.acquire_rate("k", 3, 60)
    assert not refused.allowed and refused.retry_after == pytest.approx(30)
    await state.release_rate("k", tokens[-1])  # that action did not happen after all
    assert (await state.acquire_rate("k", 3, 60)).allowed
    clock.now += 31  # the first hit leaves the window
    assert (await state.acquire_rate("k", 3, 60)).allowed
    assert (await state.acquire_rate("k", 0, 60)).allowed  # 0 turns the limit off


async def test_non_ascii_socket_token_is_refused_cleanly(server) -> None:
    from tests.support import Client

    refusal = await Client(server.url).refused(auth={"token": "t\u00f6ken \u2603"})
    assert refusal["code"] == "auth_failed"


def test_loop_metrics_render_as_prometheus_histograms_and_counters() -> None:
    metrics = Metrics()
    for seconds in (0.0003, 0.002, 0.002, 0.02, 5.0):
        metrics.ack_latency.observe(seconds)
    metrics.events_sent.inc("NewMessage", 100)
    metrics.events_sent.inc("NewMessage")
    text = metrics.render().decode()
    for line in (
        'campfire_ack_latency_seconds_bucket{le="0.0005"} 1.0',
        'campfire_ack_latency_seconds_bucket{le="0.0025"} 3.0',
        'campfire_ack_latency_seconds_bucket{le="0.025"} 4.0',
        'campfire_ack_latency_seconds_bucket{le="2.5"} 4.0',
        'campfire_ack_latency_seconds_bucket{le="+Inf"} 5.0',
        "campfire_ack_latency_seconds_count 5.0",
        'campfire_events_sent_total{event="NewMessage"} 101.0',
    ):
        assert line in text.splitlines(), line
    [total] = [ln for ln in text.splitlines() if ln.startswith("campfire_ack_latency_seconds_sum")]
    assert float(total.split()[1]) == pytest.approx(5.0243)


def test_the_web_process_freezes_startup_objects_and_widens_the_young_generation() -> None:
    import gc

    from app.heap import THRESHOLDS, settle_after_startup

    before = gc.get_threshold()
    gc.unfreeze()
    try:
        settle_after_startup()
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # the imported modules at least
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_messages_built_without_their_lists_do_not_share_them() -> None:
    """MessageOut's list fields have plain `[]` defaults (fast in `model_construct`, see
    app/schemas_out.py): each message must still get lists of its own."""
    from datetime import UTC, datetime

    from app.schemas_out import MessageOut

    fields = {
        "id": "m",
        "room_id": "r",
        "creator_id": "u",
        "content": "hi",
        "client_message_id": "c",
        "created_at": datetime.now(UTC),
        "seq": 1,
    }
    first, second = MessageOut.model_construct(**fields), MessageOut(**fields)
    first.mention_ids.append("someone")
    first.boosts.append(None)  # type: ignore[arg-type]
    third = MessageOut.model_construct(**fields)
    assert second.mention_ids == [] and second.boosts == [] and third.mention_ids == []
    assert third.boosts == [] and third.attachments == [] and third.rev == 0
