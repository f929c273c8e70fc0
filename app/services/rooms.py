"""Rooms and memberships: who may see, join, manage and leave a room."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app import models
from app.db import Database
from app.errors import CampfireError, ErrorCode, forbidden, not_found, room_access_denied
from app.models import RoomKind
from app.notifier import Notifier
from app.schemas import RoomOut, wire
from app.schemas_readstate import MemberRoomOut
from app.services.auth import Principal
from app.services.readstate import member_rooms
from app.services.typing import TypingService
from app.state import RealtimeState


def _no_such_user(field: str, user_id: str) -> CampfireError:
    # 409, not 404: 404 is for the resource the path names (the room); a body that refers to a
    # user who does not exist is a broken reference, a conflict with the stored state (as a
    # foreign-key violation is in PostgREST). Not 422 either: the request is well formed.
    return CampfireError(ErrorCode.conflict, f"{field}: there is no user {user_id}")


ROOMS = models.Room.__table__  # type: ignore[attr-defined]
MEMBERSHIPS = models.Membership.__table__  # type: ignore[attr-defined]
# Plain SQL for Database.read (see there why).
ROOM_IDS_OF = "SELECT room_id FROM memberships WHERE user_id = :user"


class RoomService:
    def __init__(
        self, db: Database, state: RealtimeState, notifier: Notifier, typing: TypingService
    ) -> None:
        self._db = db
        self._state = state
        self._notifier = notifier
        self._typing = typing

    # ---- reading ------------------------------------------------------------------

    async def get(self, room_id: str) -> models.Room:
        async with self._db.session() as db:
            room = await db.get(models.Room, room_id)
        if room is None:
            raise not_found("room")
        return room

    async def is_member(self, room_id: str, user_id: str) -> bool:
        async with self._db.session() as db:
            return await db.get(models.Membership, (room_id, user_id)) is not None

    async def member_ids(self, room_id: str) -> list[str]:
        async with self._db.session() as db:
            result = await db.exec(
                select(models.Membership.user_id)
                .where(models.Membership.room_id == room_id)
                .order_by(models.Membership.created_at)
            )
            return list(result.all())

    async def room_ids_of(self, user_id: str) -> list[str]:
        rows = await self._db.read(lambda query: query(ROOM_IDS_OF, {"user": user_id}))
        return [room_id for (room_id,) in rows]

    async def describe(self, room: models.Room) -> RoomOut:
        return RoomOut.of(room, await self.member_ids(room.id))

    async def overview(self, user_id: str) -> list[MemberRoomOut]:
        """A user's rooms with their members and the user's read state, the most recently
        active first.

        One `Database.read`: this runs for every socket that authenticates.
        """
        return await self._db.read(lambda query: member_rooms(query, user_id))

    async def list_for(self, actor: Principal) -> list[MemberRoomOut]:
        return await self.overview(actor.user_id)

    async def require_readable(self, actor: Principal, room_id: str) -> models.Room:
        """Open rooms may be read by anyone signed in; others only by their members."""
        room = await self.get(room_id)
        if room.kind != RoomKind.open and not await self.is_member(room_id, actor.user_id):
            raise room_access_denied()
        return room

    async def require_member(self, actor: Principal, room_id: str) -> models.Room:
        """Sending and typing need membership, in open rooms too (join first)."""
        room = await self.get(room_id)
        if not await self.is_member(room_id, actor.user_id):
            raise room_access_denied()
        return room

    # ---- changing -----------------------------------------------------------------

    async def create(
        self, actor: Principal, *, name: str, kind: str, member_ids: Iterable[str] = ()
    ) -> RoomOut:
        members = list(dict.fromkeys([actor.user_id, *member_ids]))
        # A direct room of the creator alone is allowed: a private notes-to-self room, as in
        # Slack. (Refusing it would also be a rule the OpenAPI document could not state.)
        room = models.Room(name=name, kind=kind, creator_id=actor.user_id)
        async with self._db.session() as db:
            found = (
                await db.exec(select(models.User.id).where(col(models.User.id).in_(members)))
            ).all()
            if missing := set(members) - set(found):
                raise _no_such_user("member_ids", sorted(missing)[0])
            db.add(room)
            await db.flush()
            involvement = (
                models.Involvement.everything
                if kind == RoomKind.direct
                else models.Involvement.mentions
            )
            for user_id in members:
                db.add(models.Membership(room_id=room.id, user_id=user_id, involvement=involvement))
            await db.commit()
        out = RoomOut.of(room, members)
        for user_id in members:
            await self._announce_join(out, user_id)
        return out

    async def rename(self, actor: Principal, room_id: str, name: str | None) -> RoomOut:
        room = await self._require_manager(actor, room_id)
        if name is not None and name != room.name:
            async with self._db.session() as db:
                room.name = name
                db.add(room)
                await db.commit()
            out = await self.describe(room)
            await self._notifier.to_room(room.id, "RoomUpdated", {"room": wire(out)})
            return out
        return await self.describe(room)

    async def add_member(
        self, actor: Principal, room_id: str, user_id: str
    ) -> tuple[RoomOut, bool]:
        """Add a member; returns the room and whether the membership is new."""
        room = await self.get(room_id)
        joining_self = user_id == actor.user_id
        if room.kind == RoomKind.direct:
            if await self.is_member(room_id, user_id):
                return await self.describe(room), False
            raise forbidden("a direct room's members are fixed")
        if not (joining_self and room.kind == RoomKind.open):
            await self._require_manager(actor, room_id, room)
        async with self._db.session() as db:
            if await db.get(models.User, user_id) is None:
                raise _no_such_user("user_id", user_id)
            if await db.get(models.Membership, (room_id, user_id)) is not None:
                return await self.describe(room), False
            db.add(models.Membership(room_id=room_id, user_id=user_id))
            try:
                await db.commit()
            except IntegrityError:  # a concurrent add won the race
                return await self.describe(room), False
        out = await self.describe(room)
        await self._announce_join(out, user_id)
        await self._notifier.to_room(room_id, "RoomUpdated", {"room": wire(out)})
        return out, True

    async def join(self, actor: Principal, room_id: str) -> RoomOut:
        """The socket `JoinRoom`: open rooms only, unless already a member."""
        room = await self.get(room_id)
        if await self.is_member(room_id, actor.user_id):
            return await self.describe(room)
        if room.kind != RoomKind.open:
            raise room_access_denied()
        out, _ = await self.add_member(actor, room_id, actor.user_id)
        return out

    async def remove_member(self, actor: Principal, room_id: str, user_id: str) -> None:
        room = await self.get(room_id)
        leaving_self = user_id == actor.user_id
        if room.kind == RoomKind.direct:
            if not await self.is_member(room_id, actor.user_id) and not actor.is_admin:
                raise room_access_denied()
            raise forbidden("a direct room's members are fixed")
        if leaving_self:
            if not await self.is_member(room_id, user_id):
                raise room_access_denied()
        else:
            await self._require_manager(actor, room_id, room)
        async with self._db.session() as db:
            result = await db.exec(
                delete(models.Membership).where(
                    col(models.Membership.room_id) == room_id,
                    col(models.Membership.user_id) == user_id,
                )
            )
            await db.commit()
        if result.rowcount:
            await self._announce_leave(room, user_id)

    # ---- helpers ------------------------------------------------------------------

    async def _require_manager(
        self, actor: Principal, room_id: str, room: models.Room | None = None
    ) -> models.Room:
        room = room or await self.get(room_id)
        if actor.is_admin or room.creator_id == actor.user_id:
            return room
        if not await self.is_member(room_id, actor.user_id):
            raise room_access_denied()
        raise forbidden("only the room's creator or an admin may do that")

    async def _announce_join(self, room: RoomOut, user_id: str) -> None:
        connections = await self._state.user_connections(user_id)
        await self._notifier.subscribe([c.sid for c in connections], room.id)
        await self._notifier.to_user(user_id, "RoomJoined", {"room": wire(room)})
        if connections:
            await self._notifier.to_room(
                room.id, "UserJoined", {"user_id": user_id, "room_id": room.id}
            )

    async def _announce_leave(self, room: models.Room, user_id: str) -> None:
        connections = await self._state.user_connections(user_id)
        # Unsubscribe first: nothing of the room may reach the user after RoomLeft.
        await self._notifier.unsubscribe([c.sid for c in connections], room.id)
        await self._notifier.to_user(user_id, "RoomLeft", {"room_id": room.id})
        await self._typing.stop(user_id, room.id)
        if connections:
            await self._notifier.to_room(
                room.id, "UserLeft", {"user_id": user_id, "room_id": room.id}
            )
        await self._notifier.to_room(
            room.id, "RoomUpdated", {"room": wire(await self.describe(room))}
        )
