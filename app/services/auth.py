"""Logins and sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select

from app import models
from app.config import Settings
from app.db import Database
from app.errors import CampfireError, ErrorCode
from app.models import utcnow
from app.notifier import Notifier
from app.security import new_token, token_hash, verify_password
from app.state import RealtimeState

# Writing last_active_at on every request would turn every read into a write (and on SQLite
# compete with message commits for the one write lock); an hour is precise enough for a
# 30-day expiry.
TOUCH_INTERVAL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: an authenticated user and the session they used."""

    user: models.User
    session_id: str

    @property
    def user_id(self) -> str:
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user.role == models.Role.admin


class AuthService:
    def __init__(
        self, settings: Settings, db: Database, state: RealtimeState, notifier: Notifier
    ) -> None:
        self._ttl = timedelta(days=settings.session_ttl_days)
        self._db = db
        self._state = state
        self._notifier = notifier

    async def login(self, email_address: str, password: str) -> tuple[str, models.User]:
        async with self._db.session() as db:
            user = (
                await db.exec(
                    select(models.User).where(
                        models.User.email_address == email_address.strip().lower()
                    )
                )
            ).first()
            if user is None or not user.active:
                raise CampfireError(ErrorCode.auth_failed, "wrong email address or password")
            if not await verify_password(user.password_hash, password):
                raise CampfireError(ErrorCode.auth_failed, "wrong email address or password")
            token = new_token()
            now = utcnow()
            db.add(
                models.Session(
                    token_hash=token_hash(token),
                    user_id=user.id,
                    created_at=now,
                    last_active_at=now,
                    expires_at=now + self._ttl,
                )
            )
            await db.commit()
        await self._state.touch_activity(user.id)
        return token, user

    async def authenticate(self, token: str | None) -> Principal:
        """Check a bearer token; counts as use of the session (PROTOCOL.md section 2)."""
        if not token:
            raise CampfireError(ErrorCode.auth_required, "a session token is required")
        if not token.isascii():  # tokens are URL-safe base64; anything else cannot match
            raise CampfireError(ErrorCode.auth_failed, "unknown session token")
        now = utcnow()
        async with self._db.session() as db:
            row = (
                await db.exec(
                    select(models.Session, models.User)
                    .join(models.User, models.User.id == models.Session.user_id)
                    .where(models.Session.token_hash == token_hash(token))
                )
            ).first()
            if row is None:
                raise CampfireError(ErrorCode.auth_failed, "unknown session token")
            session, user = row
            if session.revoked_at is not None or session.expires_at <= now or not user.active:
                raise CampfireError(ErrorCode.auth_failed, "session expired or revoked")
            if now - session.last_active_at >= TOUCH_INTERVAL:
                session.last_active_at = now
                session.expires_at = now + self._ttl
                db.add(session)
                await db.commit()
        await self._state.touch_activity(user.id)
        return Principal(user=user, session_id=session.id)

    async def logout(self, principal: Principal) -> None:
        """Revoke the session at once and close every socket that used it."""
        async with self._db.session() as db:
            session = await db.get(models.Session, principal.session_id)
            if session is not None and session.revoked_at is None:
                session.revoked_at = utcnow()
                db.add(session)
                await db.commit()
        connections = await self._state.session_connections(principal.session_id)
        await self._notifier.disconnect([c.sid for c in connections], "session_revoked")
