"""First run (the first admin and "All Talk") and join links for everyone after."""

from __future__ import annotations

import hmac
import secrets

from sqlalchemy.exc import IntegrityError

from app import models
from app.db import Database
from app.errors import CampfireError, ErrorCode, forbidden, not_found
from app.services.auth import AuthService, Principal
from app.services.users import UserService

ACCOUNT_ID = 1
FIRST_ROOM = "All Talk"


def _new_code() -> str:
    # Part of a URL people paste around: short, unambiguous, ~72 bits.
    return secrets.token_urlsafe(9)


class OnboardingService:
    def __init__(self, db: Database, users: UserService, auth: AuthService) -> None:
        self._db = db
        self._users = users
        self._auth = auth

    async def setup_needed(self) -> bool:
        return await self._users.count() == 0

    async def setup(
        self, *, name: str, email_address: str, password: str
    ) -> tuple[str, models.User]:
        """While nobody exists: the first admin, signed in, and the open room "All Talk"."""
        if not await self.setup_needed():
            raise CampfireError(ErrorCode.conflict, "this Campfire is already set up")
        # The account row's fixed id makes concurrent first runs race-free: one inserts it.
        async with self._db.session() as db:
            db.add(models.Account(id=ACCOUNT_ID, join_code=_new_code()))
            try:
                await db.commit()
            except IntegrityError:
                raise CampfireError(ErrorCode.conflict, "this Campfire is already set up") from None
        user = await self._users.create(
            None,
            name=name,
            email_address=email_address,
            password=password,
            role=models.Role.admin,
        )
        async with self._db.session() as db:
            room = models.Room(
                name=FIRST_ROOM, kind=models.RoomKind.open, creator_id=user.id, auto_join=True
            )
            db.add(room)
            await db.flush()
            db.add(models.Membership(room_id=room.id, user_id=user.id))
            await db.commit()
        token, user = await self._auth.login(email_address, password)
        return token, user

    async def join_code(self, actor: Principal) -> str:
        if not actor.is_admin:
            raise forbidden("only an admin may see the join link")
        async with self._db.session() as db:
            account = await db.get(models.Account, ACCOUNT_ID)
            if account is not None:
                return account.join_code
            # Set up from the CLI: the first admin to ask makes the code.
            db.add(models.Account(id=ACCOUNT_ID, join_code=_new_code()))
            try:
                await db.commit()
            except IntegrityError:
                await db.rollback()
            account = await db.get(models.Account, ACCOUNT_ID)
            assert account is not None
            return account.join_code

    async def rotate_join_code(self, actor: Principal) -> str:
        """A new code; links with the old one stop working at once."""
        await self.join_code(actor)
        async with self._db.session() as db:
            account = await db.get(models.Account, ACCOUNT_ID)
            assert account is not None
            account.join_code = _new_code()
            db.add(account)
            await db.commit()
            return account.join_code

    async def join(
        self, code: str, *, name: str, email_address: str, password: str
    ) -> tuple[str, models.User]:
        """Sign up through a join link: a member, signed in, in every auto_join room."""
        async with self._db.session() as db:
            account = await db.get(models.Account, ACCOUNT_ID)
        if account is None or not hmac.compare_digest(
            account.join_code.encode(), code.encode("utf-8", "surrogateescape")
        ):
            raise not_found("join code")
        await self._users.create(None, name=name, email_address=email_address, password=password)
        return await self._auth.login(email_address, password)
