"""Property-based fuzzing of Socket.IO events (Hypothesis) against a live server.

Any event name (the protocol's, reserved ones, random text) with any JSON payload, on one
authenticated socket, must: be answered through its ack (the socket is never wedged), with a
protocol envelope whose error code is one of PROTOCOL.md's and never `internal_error`; leave
the socket connected; and store a message only when it answers MessageDelivered. Bounded to
a few hundred examples: well under a minute on a quiet machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ErrorCode
from tests.support import Api, Client, ServerProcess

ROOM = "$ROOM"  # replaced by the fuzzing user's room at run time
EVENTS = [
    "NewMessage", "TypingStart", "TypingStop", "GetPresence", "JoinRoom", "LeaveRoom", "Ping",
    "Auth", "disconnect", "connect", "disconnecting", "connect_error", "*", "message",
]  # fmt: skip
FIELDS = ["room_id", "content", "client_message_id", "session_token", "last_seen"]
CODES = {code.value for code in ErrorCode} - {"internal_error"}
OK_TYPES = {"MessageDelivered", "Ok", "Pong", "PresenceUpdate", "RoomJoined", "RoomLeft"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from([ROOM, "", " ", "00000000-0000-0000-0000-000000000000"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=12,
)
near_valid = st.fixed_dictionaries(
    {},
    optional={
        "room_id": st.sampled_from([ROOM, "nope", ""]) | scalars,
        "content": st.text(max_size=60) | scalars,
        "client_message_id": st.uuids().map(str) | scalars,
    },
)
payloads = near_valid | json_values
event_names = st.sampled_from(EVENTS) | st.text(max_size=30)


def substitute(value: Any, room_id: str) -> Any:
    if value == ROOM:
        return room_id
    if isinstance(value, list):
        return [substitute(v, room_id) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, room_id) for k, v in value.items()}
    return value


class Fuzzing:
    def __init__(self, client: Client, api: Api, room_id: str) -> None:
        self.client, self.api, self.room_id = client, api, room_id
        self.delivered: set[str] = set()


@pytest.fixture
async def fuzzing(server: ServerProcess, user_factory: Any) -> AsyncIterator[Fuzzing]:
    api = await user_factory("fuzz")
    # Open, so that an example that leaves it (LeaveRoom) can be followed by one that rejoins.
    room = await api.create_room("fuzz", "open")
    client = Client(server.url)
    await client.connect(auth={"token": api.token})
    await client.synced()
    yield Fuzzing(client, api, room["id"])
    await client.close()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=event_names, payload=payloads)
async def test_any_event_with_any_payload_gets_a_protocol_answer(
    fuzzing: Fuzzing, event: str, payload: Any
) -> None:
    data = substitute(payload, fuzzing.room_id)
    answer = await fuzzing.client.call(event, data, timeout=15)
    assert isinstance(answer, dict) and "type" in answer, (event, data, answer)
    if answer["type"] in ("Error", "MessageError"):
        assert answer["data"]["code"] in CODES, (event, data, answer)
    else:
        assert answer["type"] in OK_TYPES, (event, data, answer)
    assert fuzzing.client.sio.connected
    if answer["type"] == "MessageDelivered":
        fuzzing.delivered.add(answer["data"]["message_id"])
    if event == "NewMessage":
        # Readable as an open room even when an example made the user leave it.
        status, body = await fuzzing.api.call(
            "GET", f"/api/rooms/{fuzzing.room_id}/messages", params={"limit": 200}
        )
        if status == 200:
            assert {m["id"] for m in body["messages"]} == fuzzing.delivered, (event, data)
