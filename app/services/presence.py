"""Who is online: connection registration, multi-tab presence, heartbeats and stale cleanup."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from app.config import Settings
from app.errors import CampfireError, ErrorCode
from app.models import new_id
from app.notifier import Notifier
from app.schemas_readstate import MemberRoomOut
from app.services.auth import Principal
from app.services.live_presence import NOT_LIVE, LivePresence
from app.services.rooms import RoomService
from app.services.typing import TypingService
from app.state import ConnectionInfo, RealtimeState

# How soon a client refused for a full server should try again.
SERVER_FULL_RETRY_AFTER = 5.0


class RoomPresence(NamedTuple):
    online: list[str]
    recently_active: list[str]
    # False for a room too big for live presence (app/services/live_presence.py).
    live: bool


class PresenceService:
    def __init__(
        self,
        settings: Settings,
        state: RealtimeState,
        notifier: Notifier,
        rooms: RoomService,
        typing: TypingService,
        live: LivePresence,
    ) -> None:
        self._settings = settings
        self._live = live
        self._state = state
        self._notifier = notifier
        self._rooms = rooms
        self._typing = typing

    async def connect(self, principal: Principal, sid: str, process_id: str) -> ConnectionInfo:
        """Register a live socket within the limits; announce the user if it is their first."""
        info = ConnectionInfo(
            connection_id=new_id(),
            sid=sid,
            user_id=principal.user_id,
            session_id=principal.session_id,
            process_id=process_id,
        )
        result = await self._state.add_connection(
            info,
            max_per_user=self._settings.max_connections_per_user,
            max_total=self._settings.max_connections,
        )
        if result.refusal == "user_limit":
            raise CampfireError(
                ErrorCode.too_many_connections,
                f"at most {self._settings.max_connections_per_user} connections per user",
            )
        if result.refusal == "total_limit":
            raise CampfireError(
                ErrorCode.server_overloaded,
                "the server is at its connection limit",
                retry_after=SERVER_FULL_RETRY_AFTER,
            )
        if result.user_connection_count == 1:
            await self._announce(principal.user_id, "UserJoined")
        return info

    async def disconnect(self, connection_id: str) -> None:
        """Forget a socket; when it was the user's last, end their typing and announce it."""
        info, remaining = await self._state.remove_connection(connection_id)
        if info is not None and remaining == 0:
            await self._typing.stop_everywhere(info.user_id)
            await self._announce(info.user_id, "UserLeft")

    async def heartbeat(self, connection_ids: list[str]) -> None:
        await self._state.heartbeat(connection_ids)

    async def refresh(
        self, infos: list[ConnectionInfo], hidden: Collection[str] = ()
    ) -> list[ConnectionInfo]:
        """The heartbeat of a process's live connections, registering again any that the
        state lost (Redis restarted): else they would count as offline until they reconnect,
        since a plain heartbeat never re-creates a connection. `hidden` are the connections
        whose page is hidden; the others come back visible, so that Web Push keeps telling a
        visible user from a hidden one. Returns those re-registered."""
        return await self._state.restore_connections(infos, hidden)

    async def room_presence(self, actor: Principal, room_id: str) -> RoomPresence:
        """Online and recently active members of a room the actor may read (in a room
        without live presence too: this is how its clients learn it)."""
        await self._rooms.require_readable(actor, room_id)
        members = await self._live.member_ids(room_id)
        online = await self._state.online_users(members)
        active = await self._state.recently_active(members, self._settings.recently_active_seconds)
        active |= online
        return RoomPresence(
            [u for u in members if u in online],
            [u for u in members if u in active],
            self._live.is_live_size(len(members)),
        )

    async def welcome_updates(
        self, user_id: str, rooms: Sequence[MemberRoomOut]
    ) -> list[dict[str, Any]]:
        """The `PresenceUpdate`s of an authenticating socket, one per room (PROTOCOL.md
        section 3). A room too big for live presence gets a bounded one: only the user, who
        is online, and `live: false`; the client asks for the rest when it shows the room."""
        live = [room for room in rooms if self._live.is_live_size(room.size)]
        members = {room.id: room.member_ids for room in live}
        for room_id, ids in members.items():
            if ids is None:
                # Listed by count only (CAMPFIRE_ROOM_MEMBER_IDS_MAX set below the live
                # presence bound): its full presence needs its members all the same.
                members[room_id] = await self._live.member_ids(room_id)
        # One state lookup for everyone the user shares a live room with, not one per room.
        everyone = {member for ids in members.values() for member in ids or ()}
        online = await self._state.online_users(everyone)
        updates = []
        for room in rooms:
            if room.id in members:
                online_here = [m for m in members[room.id] or () if m in online]
                updates.append({"room_id": room.id, "online_users": online_here})
            else:
                updates.append({"room_id": room.id, "online_users": [user_id], **NOT_LIVE})
        return updates

    async def cleanup_stale(self) -> int:
        """Drop connections of dead processes; the presence-cleanup job's body."""
        stale = await self._state.stale_connections(self._settings.presence_stale_seconds)
        for info in stale:
            await self.disconnect(info.connection_id)
            # If the socket is in fact alive somewhere, close it so that it reconnects.
            await self._notifier.disconnect([info.sid], "stale_connection")
        return len(stale)

    async def _announce(self, user_id: str, event: str) -> None:
        for room_id in await self._live.live_rooms_of(user_id):
            await self._notifier.to_room(room_id, event, {"user_id": user_id, "room_id": room_id})
