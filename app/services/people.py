"""People: one's own profile and avatar, and an admin's role changes and deactivations."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from app import models
from app.db import Database
from app.errors import CampfireError, ErrorCode, forbidden, not_found
from app.models import Role, utcnow
from app.notifier import Notifier
from app.schemas import UserOut, wire
from app.security import hash_password, verify_password
from app.services import avatars
from app.services.auth import AuthService, Principal

# Everyone who shares a room with the user, the user included.
SHARERS = (
    "SELECT DISTINCT theirs.user_id FROM memberships AS mine"
    " JOIN memberships AS theirs ON theirs.room_id = mine.room_id"
    " WHERE mine.user_id = :user"
)


@dataclass(frozen=True, slots=True)
class Picture:
    body: bytes
    content_type: str
    etag: str


class PeopleService:
    def __init__(self, db: Database, auth: AuthService, notifier: Notifier) -> None:
        self._db = db
        self._auth = auth
        self._notifier = notifier

    # ---- one's own profile ---------------------------------------------------------

    async def update_me(
        self,
        actor: Principal,
        *,
        name: str | None = None,
        email_address: str | None = None,
        password: str | None = None,
        current_password: str | None = None,
    ) -> UserOut:
        """Change one's name, email address or password. The last two need the current
        password; a new password signs out every other session."""
        async with self._db.session() as db:
            user = await db.get(models.User, actor.user_id)
            if user is None:
                raise not_found("user")
            email = email_address.strip().lower() if email_address is not None else None
            changes_email = email is not None and email != user.email_address
            if changes_email or password is not None:
                # Missing and wrong alike: the change is not allowed without the password.
                if not current_password:
                    raise forbidden(
                        "current_password is needed to change the email address or password"
                    )
                if not await verify_password(user.password_hash, current_password):
                    raise forbidden("current_password is not the account's password")
            if name is not None:
                user.name = name
            if changes_email:
                user.email_address = email  # type: ignore[assignment]
            if password is not None:
                user.password_hash = await hash_password(password)
            db.add(user)
            try:
                await db.commit()
            except IntegrityError:
                raise CampfireError(
                    ErrorCode.conflict, "that email address is already taken"
                ) from None
        if password is not None:
            await self._auth.revoke_sessions(
                actor.user_id, "session_revoked", keep_session=actor.session_id
            )
        out = UserOut.of(user)
        await self.announce(out)
        return out

    async def set_avatar(self, actor: Principal, upload: bytes) -> UserOut:
        picture = await avatars.resize(upload)
        key = avatars.digest(picture)
        async with self._db.session() as db:
            user = await db.get(models.User, actor.user_id)
            if user is None:
                raise not_found("user")
            stored = await db.get(models.Avatar, actor.user_id)
            if stored is None:
                stored = models.Avatar(
                    user_id=actor.user_id, content=picture, content_type=avatars.STORED_TYPE
                )
            stored.content = picture
            stored.updated_at = utcnow()
            user.avatar_key = key
            db.add(stored)
            db.add(user)
            await db.commit()
        out = UserOut.of(user)
        await self.announce(out)
        return out

    async def remove_avatar(self, actor: Principal) -> UserOut:
        async with self._db.session() as db:
            user = await db.get(models.User, actor.user_id)
            if user is None:
                raise not_found("user")
            await db.exec(
                delete(models.Avatar).where(col(models.Avatar.user_id) == actor.user_id)  # type: ignore[call-overload]
            )
            changed = user.avatar_key is not None
            user.avatar_key = None
            db.add(user)
            await db.commit()
        out = UserOut.of(user)
        if changed:
            await self.announce(out)
        return out

    async def avatar(self, user_id: str) -> Picture:
        """Anyone's picture (avatars are shown wherever a name is, like the name itself)."""
        async with self._db.session() as db:
            user = await db.get(models.User, user_id)
            if user is None:
                raise not_found("user")
            if user.avatar_key is not None:
                stored = await db.get(models.Avatar, user_id)
                if stored is not None:
                    return Picture(stored.content, stored.content_type, user.avatar_key)
        return Picture(
            avatars.initials_svg(user.id, user.name),
            "image/svg+xml",
            avatars.initials_etag(user.id, user.name),
        )

    # ---- admin ---------------------------------------------------------------------

    async def set_role(self, actor: Principal, user_id: str, role: str) -> UserOut:
        if not actor.is_admin:
            raise forbidden("only an admin may change roles")
        if user_id == actor.user_id:
            raise forbidden("an admin cannot change their own role")
        async with self._db.session() as db:
            user = await db.get(models.User, user_id)
            if user is None or not user.active:
                raise not_found("user")
            if user.role == Role.bot:
                raise forbidden("a bot's role cannot be changed")
            if user.role == role:
                return UserOut.of(user)
            user.role = role
            db.add(user)
            await db.commit()
        out = UserOut.of(user)
        await self.announce(out)
        return out

    async def deactivate(self, actor: Principal, user_id: str) -> None:
        """Sign a person out everywhere and for good; their messages stay."""
        if not actor.is_admin:
            raise forbidden("only an admin may deactivate people")
        if user_id == actor.user_id:
            raise forbidden("an admin cannot deactivate themselves")
        await self.deactivate_unchecked(user_id)

    async def deactivate_unchecked(self, user_id: str) -> None:
        async with self._db.session() as db:
            user = await db.get(models.User, user_id)
            if user is None or not user.active:
                raise not_found("user")
            user.active = False
            user.bot_key_hash = None
            db.add(user)
            await db.commit()
        await self._auth.revoke_sessions(user_id, "account_deactivated")

    # ---- telling others ------------------------------------------------------------

    async def announce(self, user: UserOut) -> None:
        """`UserUpdated {user}` to everyone who shares a room with the user, and to the
        user's own connections."""
        rows = await self._db.read(lambda query: query(SHARERS, {"user": user.id}))
        recipients = {user_id for (user_id,) in rows} | {user.id}
        data = {"user": wire(user)}
        for recipient in recipients:
            await self._notifier.to_user(recipient, "UserUpdated", data)
