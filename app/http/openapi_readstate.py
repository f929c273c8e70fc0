"""The OpenAPI paths and models of read state, involvement and Web Push (PROTOCOL.md 9.2),
merged into the document by `app.http.openapi`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.http.openapi import (
    PUBLIC,
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


class PushSubscribed(_Envelope):
    endpoint: str


INBOUND: list[type[BaseModel]] = [ReadIn, MembershipIn, PushSubscriptionIn, PushUnsubscribeIn]
OUTBOUND: list[type[BaseModel]] = [
    MemberRoomOut,
    MemberRoomEnvelope,
    RoomReadOut,
    VapidKeyOut,
    PushSubscribed,
]

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
        "/api/push/vapid_public_key": {
            "get": _operation(
                "vapidPublicKey",
                "The VAPID public key, for PushManager.subscribe's applicationServerKey",
                "push",
                {"200": _json("VapidKeyOut", "URL-safe base64 of the uncompressed P-256 point")},
                security=PUBLIC,
            ),
        },
        "/api/push/subscriptions": {
            "post": _operation(
                "subscribePush",
                "Store a Web Push subscription (a PushSubscription's JSON) for the caller",
                "push",
                {
                    "200": _json("PushSubscribed", "already the caller's; keys updated"),
                    "201": _json("PushSubscribed", "stored (or moved from another user)"),
                    **WITH_BODY,
                    **UNAUTHORIZED,
                },
                body="PushSubscriptionIn",
                description="`endpoint` must be https (http only with "
                "CAMPFIRE_PUSH_ALLOW_HTTP=1); `keys.p256dh` is the browser's P-256 public key, "
                "`keys.auth` its 16-byte secret, both URL-safe base64.",
            ),
            "delete": _operation(
                "unsubscribePush",
                "Delete one of the caller's push subscriptions",
                "push",
                {
                    "204": {"description": "deleted (or was not the caller's)"},
                    **WITH_BODY,
                    **UNAUTHORIZED,
                },
                body="PushUnsubscribeIn",
            ),
        },
    }
