"""Rooms and memberships: who may see, join, manage and leave a room."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import models
from app.db import Database, Query, utc
from app.errors import CampfireError, ErrorCode, forbidden, not_found, room_access_denied
from app.models import RoomKind
from app.notifier import Notifier
from app.schemas import OpenRoomOut, RoomOut, wire
from app.schemas_readstate import MemberRoomOut
from app.services.auth import Principal
from app.services.directs import direct_key, find_direct
from app.services.live_presence import LivePresence
from app.services.readstate import member_rooms
from app.services.typing import TypingService
from app.state import RealtimeState


def _no_such_user(field: str, user_id: str) -> CampfireError:
    # 409, not 404: 404 is for the resource the path names (the room); a body that refers to a
    # user who does not exist is a broken reference, a conflict with the stored state (as a
    # foreign-key violation is in PostgREST). Not 422 either: the request is well formed.
    return CampfireError(ErrorCode.conflict, f"{field}: there is no user {user_id}")


log = logging.getLogger(__name__)
DeletionHook = Callable[[AsyncSession, str], Awaitable[None]]

ROOMS = models.Room.__table__  # type: ignore[attr-defined]
MEMBERSHIPS = models.Membership.__table__  # type: ignore[attr-defined]
# Plain SQL for Database.read (see there why).
ROOM_IDS_OF = "SELECT room_id FROM memberships WHERE user_id = :user"
# A big room's size, and its first members up to the bound (to tell big from small in one
# bounded index range; see `RoomService.brief`).
COUNT_MEMBERS = "SELECT COUNT(*) FROM memberships WHERE room_id = :room"
FIRST_MEMBERS = (
    "SELECT user_id FROM memberships WHERE room_id = :room ORDER BY created_at LIMIT :limit"
)
OPEN_ROOMS = (
    "SELECT r.id, r.name, r.created_at, r.creator_id, r.auto_join,"
    " (SELECT COUNT(*) FROM memberships AS mine"
    "   WHERE mine.room_id = r.id AND mine.user_id = :user) AS member,"
    " (SELECT COUNT(*) FROM memberships AS m WHERE m.room_id = r.id) AS member_count"
    " FROM rooms AS r WHERE r.kind = 'open' ORDER BY r.name, r.id"
)
# A room's kind and whether the user is a member, for `readable` (one statement).
READABLE = (
    "SELECT r.kind, EXISTS (SELECT 1 FROM memberships AS m"
    " WHERE m.room_id = r.id AND m.user_id = :user) FROM rooms AS r WHERE r.id = :room"
)


def readable(query: Query, room_id: str, user_id: str) -> None:
    """`RoomService.require_readable`'s rule inside a `Database.read`, so a hot read (the
    history page) checks access in the hand-off that reads: raises as that does."""
    rows = query(READABLE, {"room": room_id, "user": user_id})
    if not rows:
        raise not_found("room")
    kind, member = rows[0]
    if kind != RoomKind.open and not member:
        raise room_access_denied()


class RoomService:
    def __init__(
        self,
        db: Database,
        state: RealtimeState,
        notifier: Notifier,
        typing: TypingService,
        live: LivePresence | None = None,
        member_ids_max: int = 0,
    ) -> None:
        self._db = db
        self._live = live or LivePresence(db, 0)
        # CAMPFIRE_ROOM_MEMBER_IDS_MAX (0: no limit): rooms going out unasked (AuthSuccess,
        # room lists, RoomJoined, RoomUpdated) list at most this many members, else count them.
        self.member_ids_max = member_ids_max
        self._state = state
        self._notifier = notifier
        self._typing = typing
        # Other features' per-room rows (files, read state, ...) are deleted by these, in the
        # transaction that deletes the room; `after_deletion_hooks` run after its commit
        # (for what is not in the database, such as stored files).
        self.deletion_hooks: list[DeletionHook] = []
        self.after_deletion_hooks: list[Callable[[str], Awaitable[None]]] = []

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
        """The room with every member: `GET /api/rooms/{id}`, whatever its size."""
        return RoomOut.of(room, await self.member_ids(room.id))

    async def brief(self, room: models.Room) -> RoomOut:
        """The room as it goes out unasked (events, answers of changes): a room of more than
        `member_ids_max` members with `member_count` instead of `member_ids`. Reads at most
        `member_ids_max` + 1 ids, then (in the same read) counts."""
        if self.member_ids_max <= 0:
            return await self.describe(room)
        limit = {"room": room.id, "limit": self.member_ids_max + 1}

        def ids_or_count(query: Query) -> list[str] | int:
            first = query(FIRST_MEMBERS, limit)
            if len(first) <= self.member_ids_max:
                return [user_id for (user_id,) in first]
            return int(query(COUNT_MEMBERS, {"room": room.id})[0][0])

        members = await self._db.read(ids_or_count)
        if isinstance(members, int):
            return RoomOut.of(room, member_count=members)
        return RoomOut.of(room, members)

    def shaped(self, room: models.Room, member_ids: list[str]) -> RoomOut:
        """`brief` for a room whose members are known already."""
        if 0 < self.member_ids_max < len(member_ids):
            return RoomOut.of(room, member_count=len(member_ids))
        return RoomOut.of(room, member_ids)

    async def overview(self, user_id: str) -> list[MemberRoomOut]:
        """A user's rooms with their members (big ones: their count) and the user's read
        state, the most recently active first.

        One `Database.read`: this runs for every socket that authenticates.
        """
        read = self.overview_reader()
        return await self._db.read(lambda query: read(query, user_id))

    def overview_reader(self) -> Callable[[Query, str], list[MemberRoomOut]]:
        """`overview` as a function of (query, user_id), to read inside another hand-off."""
        limit = self.member_ids_max
        return lambda query, user_id: member_rooms(query, user_id, None, limit)

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
        room, _ = await self.create_or_find(actor, name=name, kind=kind, member_ids=member_ids)
        return room

    async def create_or_find(
        self, actor: Principal, *, name: str, kind: str, member_ids: Iterable[str] = ()
    ) -> tuple[RoomOut, bool]:
        """Create a room; a direct room whose member set exists already is answered instead
        (returns the room and whether it is new)."""
        members = list(dict.fromkeys([actor.user_id, *member_ids]))
        # A direct room of the creator alone is allowed: a private notes-to-self room, as in
        # Slack. (Refusing it would also be a rule the OpenAPI document could not state.)
        key = direct_key(members) if kind == RoomKind.direct else None
        if key is not None and (existing := await find_direct(self._db, key)) is not None:
            return await self.brief(existing), False
        room = models.Room(name=name, kind=kind, creator_id=actor.user_id, direct_key=key)
        async with self._db.session() as db:
            found = (
                await db.exec(select(models.User.id).where(col(models.User.id).in_(members)))
            ).all()
            if missing := set(members) - set(found):
                raise _no_such_user("member_ids", sorted(missing)[0])
            db.add(room)
            try:
                await db.flush()
            except IntegrityError:
                # The unique direct_key: a concurrent request created this conversation.
                await db.rollback()
                existing = await find_direct(self._db, key) if key is not None else None
                if existing is None:
                    raise
                return await self.brief(existing), False
            involvement = (
                models.Involvement.everything
                if kind == RoomKind.direct
                else models.Involvement.mentions
            )
            for user_id in members:
                db.add(models.Membership(room_id=room.id, user_id=user_id, involvement=involvement))
            await db.commit()
        out = self.shaped(room, members)
        for user_id in members:
            await self._announce_join(out, user_id)
        return out, True

    async def delete(self, actor: Principal, room_id: str) -> None:
        """Delete a room with its messages (and, through `deletion_hooks`, whatever other
        features keep per room); every member's connections get RoomLeft."""
        room = await self.get(room_id)
        if room.kind == RoomKind.direct:
            if not actor.is_admin and not await self.is_member(room_id, actor.user_id):
                raise room_access_denied()
            raise forbidden("a direct room cannot be deleted")
        await self._require_manager(actor, room_id, room)
        members = await self.member_ids(room_id)
        async with self._db.session() as db:
            for hook in self.deletion_hooks:
                await hook(db, room_id)
            for table in (models.Message, models.Membership):
                await db.exec(delete(table).where(col(table.room_id) == room_id))  # type: ignore[call-overload]
            await db.exec(delete(models.Room).where(col(models.Room.id) == room_id))  # type: ignore[call-overload]
            await db.commit()
        for user_id in members:
            connections = await self._state.user_connections(user_id)
            await self._notifier.unsubscribe([c.sid for c in connections], room_id)
            await self._notifier.to_user(user_id, "RoomLeft", {"room_id": room_id})
            await self._typing.stop(user_id, room_id)
        for after in self.after_deletion_hooks:
            try:
                await after(room_id)
            except Exception:
                log.exception("cleanup after deleting room %s failed", room_id)

    async def open_rooms(self, actor: Principal) -> list[OpenRoomOut]:
        """Every open room, for the directory: whether the caller is in it, how many are."""
        rows = await self._db.read(lambda query: query(OPEN_ROOMS, {"user": actor.user_id}))
        return [
            OpenRoomOut(
                id=room_id,
                name=name,
                kind="open",
                created_at=utc(created_at),  # type: ignore[arg-type]
                creator_id=creator_id,
                auto_join=bool(auto_join),
                member=bool(member),
                member_count=count,
            )
            for room_id, name, created_at, creator_id, auto_join, member, count in rows
        ]

    async def rename(
        self, actor: Principal, room_id: str, name: str | None, auto_join: bool | None = None
    ) -> RoomOut:
        room = await self._require_manager(actor, room_id)
        if auto_join is not None and auto_join != room.auto_join:
            if not actor.is_admin:
                raise forbidden("only an admin may choose the rooms new members join")
            if room.kind != RoomKind.open:
                raise forbidden("only open rooms can be joined automatically")
        changed = (name is not None and name != room.name) or (
            auto_join is not None and auto_join != room.auto_join
        )
        if changed:
            async with self._db.session() as db:
                room.name = name if name is not None else room.name
                room.auto_join = auto_join if auto_join is not None else room.auto_join
                db.add(room)
                await db.commit()
            out = await self.brief(room)
            await self._notifier.to_room(room.id, "RoomUpdated", {"room": wire(out)})
            return out
        return await self.brief(room)

    async def add_member(
        self, actor: Principal, room_id: str, user_id: str
    ) -> tuple[RoomOut, bool]:
        """Add a member; returns the room and whether the membership is new."""
        room = await self.get(room_id)
        joining_self = user_id == actor.user_id
        if room.kind == RoomKind.direct:
            if await self.is_member(room_id, user_id):
                return await self.brief(room), False
            raise forbidden("a direct room's members are fixed")
        if not (joining_self and room.kind == RoomKind.open):
            await self._require_manager(actor, room_id, room)
        async with self._db.session() as db:
            if await db.get(models.User, user_id) is None:
                raise _no_such_user("user_id", user_id)
            if await db.get(models.Membership, (room_id, user_id)) is not None:
                return await self.brief(room), False
            db.add(models.Membership(room_id=room_id, user_id=user_id))
            try:
                await db.commit()
            except IntegrityError:  # a concurrent add won the race
                return await self.brief(room), False
        out = await self.brief(room)
        await self._announce_join(out, user_id)
        await self._notifier.to_room(room_id, "RoomUpdated", {"room": wire(out)})
        return out, True

    async def join(self, actor: Principal, room_id: str) -> RoomOut:
        """The socket `JoinRoom`: open rooms only, unless already a member."""
        room = await self.get(room_id)
        if await self.is_member(room_id, actor.user_id):
            return await self.brief(room)
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
        if connections and self._live.is_live_size(room.size):
            await self._notifier.to_room(
                room.id, "UserJoined", {"user_id": user_id, "room_id": room.id}
            )

    async def _announce_leave(self, room: models.Room, user_id: str) -> None:
        connections = await self._state.user_connections(user_id)
        # Unsubscribe first: nothing of the room may reach the user after RoomLeft.
        await self._notifier.unsubscribe([c.sid for c in connections], room.id)
        await self._notifier.to_user(user_id, "RoomLeft", {"room_id": room.id})
        await self._typing.stop(user_id, room.id)
        described = await self.brief(room)
        if connections and self._live.is_live_size(described.size):
            await self._notifier.to_room(
                room.id, "UserLeft", {"user_id": user_id, "room_id": room.id}
            )
        await self._notifier.to_room(room.id, "RoomUpdated", {"room": wire(described)})
