"""User accounts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app import models
from app.db import Database
from app.errors import CampfireError, ErrorCode, forbidden, not_found
from app.notifier import Notifier, NullNotifier
from app.schemas import RoomOut, wire
from app.security import hash_password
from app.services.auth import Principal

# How a room goes out in RoomUpdated (RoomService.brief: a big room with member_count only).
RoomShape = Callable[[models.Room], Awaitable[RoomOut]]


class UserService:
    def __init__(
        self, db: Database, notifier: Notifier | None = None, shape: RoomShape | None = None
    ) -> None:
        self._db = db
        self._notifier = notifier or NullNotifier()
        self._shape = shape

    async def create(
        self,
        actor: Principal | None,
        *,
        name: str,
        email_address: str,
        password: str,
        role: str = models.Role.member,
    ) -> models.User:
        """Create an account. `actor` None means the operator's CLI, which may do anything."""
        if actor is not None and not actor.is_admin:
            raise forbidden("only an admin may create users")
        user = models.User(
            name=name.strip(),
            email_address=email_address.strip().lower(),
            password_hash=await hash_password(password),
            role=role,
        )
        async with self._db.session() as db:
            joined: list[str] = []
            if role != models.Role.bot:
                # New members join every open room flagged auto_join ("All Talk").
                joined = list(
                    (
                        await db.exec(
                            select(models.Room.id).where(
                                models.Room.kind == models.RoomKind.open,
                                col(models.Room.auto_join).is_(True),
                            )
                        )
                    ).all()
                )
            db.add(user)
            try:
                await db.flush()
                for room_id in joined:
                    db.add(models.Membership(room_id=room_id, user_id=user.id))
                await db.commit()
            except IntegrityError:
                raise CampfireError(
                    ErrorCode.conflict, "that email address is already taken"
                ) from None
        for room_id in joined:
            await self._room_updated(room_id)
        return user

    async def _room_updated(self, room_id: str) -> None:
        if self._shape is not None:
            async with self._db.session() as db:
                found = await db.get(models.Room, room_id)
            if found is not None:
                out = await self._shape(found)
                await self._notifier.to_room(room_id, "RoomUpdated", {"room": wire(out)})
            return
        async with self._db.session() as db:
            room = await db.get(models.Room, room_id)
            members = (
                await db.exec(
                    select(models.Membership.user_id)
                    .where(models.Membership.room_id == room_id)
                    .order_by(models.Membership.created_at)
                )
            ).all()
        if room is not None:
            out = RoomOut.of(room, list(members))
            await self._notifier.to_room(room_id, "RoomUpdated", {"room": wire(out)})

    async def get(self, user_id: str) -> models.User:
        async with self._db.session() as db:
            user = await db.get(models.User, user_id)
        if user is None:
            raise not_found("user")
        return user

    async def list_active(self) -> list[models.User]:
        async with self._db.session() as db:
            result = await db.exec(
                select(models.User).where(models.User.active).order_by(models.User.name)
            )
            return list(result.all())

    async def count(self) -> int:
        async with self._db.session() as db:
            return (await db.exec(select(func.count()).select_from(models.User))).one()
