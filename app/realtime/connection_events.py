"""Socket events that need the caller's connection, not only the caller (presence, joining,
Ping, MarkRead, Visibility); a thin adapter like gateway.py, which registers these into its
handler table beside room_events' and lifecycle_events'."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.errors import invalid
from app.notifier import room_channel
from app.realtime.engineio_seam import ack_requested
from app.realtime.lifecycle_events import Handler
from app.realtime.transport import TransportDuties
from app.schemas import RoomRef, parse, wire
from app.schemas_readstate import MarkReadIn, VisibilityIn
from app.services import Principal, Services
from app.services.live_presence import NOT_LIVE
from app.state import ConnectionInfo

Envelope = dict[str, Any]
ConnectionHandler = Callable[["LiveConnection", Any], Awaitable[Envelope]]
Emit = Callable[[str, str, dict[str, Any]], Awaitable[None]]
Refresh = Callable[..., Awaitable[None]]  # (conn, *, force=False): the activity stamp


@dataclass(slots=True)
class LiveConnection:
    """What this process knows about one of its sockets."""

    sid: str
    ip: str
    principal: Principal | None = None
    info: ConnectionInfo | None = None
    auth_timer: asyncio.TimerHandle | None = None
    last_refresh: float = field(default_factory=time.monotonic)
    # The page's last `Visibility`, kept here too: a Redis restart loses the shared copy,
    # and the heartbeat re-registers the connection with it.
    visible: bool = True


def as_connection_handler(handler: Handler) -> ConnectionHandler:
    """A handler that needs only the caller, called with the connection's principal."""

    async def handle(conn: LiveConnection, payload: Any) -> Envelope:
        assert conn.principal is not None
        return await handler(conn.principal, payload)

    return handle


def connection_handlers(
    services: Services, transport: TransportDuties, emit: Emit, refresh: Refresh
) -> dict[str, ConnectionHandler]:
    async def get_presence(conn: LiveConnection, payload: Any) -> Envelope:
        data = parse(RoomRef, payload)
        assert conn.principal is not None
        found = await services.presence.room_presence(conn.principal, data.room_id)
        update = {"room_id": data.room_id, "online_users": found.online}
        if not found.live:
            update.update(NOT_LIVE)
        if not ack_requested():
            await emit(conn.sid, "PresenceUpdate", update)
        return {"type": "PresenceUpdate", "data": update}

    async def join_room(conn: LiveConnection, payload: Any) -> Envelope:
        data = parse(RoomRef, payload)
        assert conn.principal is not None
        room = await services.rooms.join(conn.principal, data.room_id)
        # A member past the per-connection cap asks for this room explicitly: make room
        # for it by giving up this connection's least recently subscribed room.
        await transport.subscribe_explicitly(conn.sid, room_channel(room.id))
        return {"type": "RoomJoined", "data": {"room": wire(room)}}

    async def ping(conn: LiveConnection, payload: Any) -> Envelope:
        if payload not in (None, {}) and not isinstance(payload, dict):
            raise invalid("Ping takes {} or nothing")
        await refresh(conn, force=True)
        if not ack_requested():
            await emit(conn.sid, "Pong", {})
        return {"type": "Pong", "data": {}}

    async def mark_read(conn: LiveConnection, payload: Any) -> Envelope:
        data = parse(MarkReadIn, payload)
        assert conn.principal is not None
        read = await services.readstate.mark_read(
            conn.principal, data.room_id, data.seq, skip_sid=conn.sid
        )
        return {"type": "RoomRead", "data": wire(read)}

    async def visibility(conn: LiveConnection, payload: Any) -> Envelope:
        data = parse(VisibilityIn, payload)
        assert conn.info is not None
        conn.visible = data.visible
        await services.push.set_visible(conn.info.connection_id, data.visible)
        return {"type": "Ok", "data": {"visible": data.visible}}

    return {
        "GetPresence": get_presence,
        "JoinRoom": join_room,
        "Ping": ping,
        "MarkRead": mark_read,
        "Visibility": visibility,
    }
