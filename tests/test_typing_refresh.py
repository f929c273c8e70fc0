"""Typing that goes on: refreshes are relayed, and the default budget fits the web client."""

from __future__ import annotations

import re

from app.config import Settings
from tests.support import ADMIN_EMAIL, ROOT, Client, login


def web_client_typing_throttle_ms() -> int:
    source = (ROOT / "web/client/client.js").read_text()
    match = re.search(r"this\.typingThrottleMs = options\.typingThrottleMs \?\? (\d+);", source)
    assert match, "typingThrottleMs default not found in web/client/client.js"
    return int(match.group(1))


async def test_refreshes_of_ongoing_typing_are_relayed_to_the_room(make_server, http) -> None:
    # Interval 0: every refresh is relayed (the default throttles them to one per 2 s a typist).
    server = make_server(CAMPFIRE_TYPING_REFRESH_SECONDS="0")
    admin = await login(http, server.url, ADMIN_EMAIL)
    reader_user = await admin.create_user("reader")
    room = await admin.create_room("typing", "closed", [reader_user["id"]])
    reader_api = await login(http, server.url, reader_user["email_address"])
    typist = await Client(server.url).connect(auth={"token": admin.token})
    reader = await Client(server.url).connect(auth={"token": reader_api.token})
    try:
        await typist.synced()
        await reader.synced()
        for _ in range(3):
            assert (await typist.call("TypingStart", {"room_id": room["id"]}))["type"] == "Ok"
        await reader.wait_for("TypingStart", lambda _: len(reader.named("TypingStart")) == 3)
        await typist.call("TypingStop", {"room_id": room["id"]})
        await reader.wait_for("TypingStop")
        assert reader.named("TypingStart") == [{"user_id": admin.id, "room_id": room["id"]}] * 3
        assert len(reader.named("TypingStop")) == 1
    finally:
        await typist.close()
        await reader.close()


async def test_paced_refreshes_are_free_and_new_bursts_spend_the_protocols_budget(
    make_server, http
) -> None:
    default_rate = Settings.model_fields["typing_rate"].default
    assert default_rate == 10  # PROTOCOL.md section 6
    # The web client refreshes no faster than the server relays, and before the expiry.
    refresh_s = Settings.model_fields["typing_refresh_seconds"].default
    timeout_s = Settings.model_fields["typing_timeout_seconds"].default
    assert refresh_s * 1000 <= web_client_typing_throttle_ms() < timeout_s * 1000
    # Refresh interval 0: every refresh within the expiry is paced (a minute of typing at the
    # client's pace, without waiting a minute).
    server = make_server(
        CAMPFIRE_TYPING_RATE=str(default_rate), CAMPFIRE_TYPING_REFRESH_SECONDS="0"
    )
    admin = await login(http, server.url, ADMIN_EMAIL)
    room = await admin.create_room("typing", "open")
    client = await Client(server.url).connect(auth={"token": admin.token})
    try:
        await client.synced()
        for _ in range(3 * default_rate):  # one long burst: one start, the rest refreshes
            assert (await client.call("TypingStart", {"room_id": room["id"]}))["type"] == "Ok"
        await client.call("TypingStop", {"room_id": room["id"]})
        for _ in range(default_rate - 1):  # new bursts spend the budget, one each
            assert (await client.call("TypingStart", {"room_id": room["id"]}))["type"] == "Ok"
            await client.call("TypingStop", {"room_id": room["id"]})
        refused = await client.call("TypingStart", {"room_id": room["id"]})
        assert refused["data"]["code"] == "rate_limit_exceeded"
        assert 0 < refused["data"]["retry_after"] <= 60
    finally:
        await client.close()
