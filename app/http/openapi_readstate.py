"""The OpenAPI paths and models of read state, involvement and Web Push (PROTOCOL.md 9.2),
merged into the document by `app.http.openapi`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.http.openapi import (
    ROOM_ID,
    ROOM_MISSING,
    UNAUTHORIZED,
    WITH_BODY,
    _Envelope,
    _error,
    _json,
    _operation,
)
from app.schemas_readstate import (
    MemberRoomOut,
    MembershipIn,
    PushSubscriptionIn,
    PushUnsubscribeIn,
    ReadIn,
    RoomReadOut,
    VapidKeyOut,
)


class MemberRoomEnvelope(_Envelope):
    room: MemberRoomOut


INBOUND: list[type[BaseModel]] = [ReadIn, MembershipIn, PushSubscriptionIn, PushUnsubscribeIn]
OUTBOUND: list[type[BaseModel]] = [MemberRoomOut, MemberRoomEnvelope, RoomReadOut, VapidKeyOut]

NOT_A_MEMBER = {"403": _error("room_access_denied: the caller is not a member of the room")}


def paths() -> dict[str, Any]:
    return {
        "/api/rooms/{room_id}/read": {
            "post": _operation(
                "markRead",
                "Mark the room read up to a seq (last_read_seq only moves forward)",
                "read state",
                {
                    "200": _json("RoomReadOut", "the caller's read state of the room now"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    **NOT_A_MEMBER,
                    **ROOM_MISSING,
                },
                parameters=[ROOM_ID],
                body="ReadIn",
                description="A seq below `last_read_seq` changes nothing; a seq above the "
                "room's last is 422. When it moves, `RoomRead` goes to the caller's sockets.",
            ),
        },
        "/api/rooms/{room_id}/membership": {
            "patch": _operation(
                "updateMembership",
                "Set the caller's involvement in a room",
                "read state",
                {
                    "200": _json("MemberRoomEnvelope", "the room with the caller's state"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                    **NOT_A_MEMBER,
                    **ROOM_MISSING,
                },
                parameters=[ROOM_ID],
                body="MembershipIn",
            ),
        },
    }
