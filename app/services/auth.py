"""Logins and sessions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, update
from sqlmodel import select

from app import models
from app.config import Settings
from app.db import Database, Query, utc
from app.errors import CampfireError, ErrorCode
from app.models import utcnow
from app.notifier import Notifier
from app.outage import best_effort
from app.schemas import UserOut, avatar_url
from app.security import new_token, token_hash, verify_password
from app.state import RealtimeState

# Writing last_active_at on every request would turn every read into a write (and on SQLite
# compete with message commits for the one write lock); an hour is precise enough for a
# 30-day expiry.
TOUCH_INTERVAL = timedelta(hours=1)
T = TypeVar("T")

SESSIONS = models.Session.__table__  # type: ignore[attr-defined]
USER_FIELDS = ("id", "name", "email_address", "role")


def _user_out(row: Any) -> UserOut:
    """A UserOut from (id, name, email_address, role, avatar_key) plain columns."""
    fields = dict(zip(USER_FIELDS, row[:4], strict=True))
    fields["avatar_url"] = avatar_url(fields["id"], fields["name"], row[4])
    return UserOut.model_construct(**fields)


AUTHENTICATE = (
    "SELECT s.id, s.revoked_at, s.expires_at, s.last_active_at, u.active,"
    " u.id, u.name, u.email_address, u.role, u.avatar_key"
    " FROM sessions AS s JOIN users AS u ON u.id = s.user_id"
    " WHERE s.token_hash = :token_hash"
)
# A bot's key works as a bearer token too (PROTOCOL.md 9.6); it has no session row.
AUTHENTICATE_BOT = (
    "SELECT u.id, u.name, u.email_address, u.role, u.avatar_key FROM users AS u"
    " WHERE u.bot_key_hash = :token_hash AND u.active AND u.role = 'bot'"
)
BOT_SESSION_PREFIX = "bot:"
# PROTOCOL.md 9.3: Campfire's sign-in throttle counts attempts per IP over 3 minutes.
LOGIN_WINDOW_SECONDS = 180.0
TOUCH_SESSION = (
    update(SESSIONS)
    .where(SESSIONS.c.id == bindparam("session"))
    .values(last_active_at=bindparam("now"), expires_at=bindparam("expires"))
)


def _session_is_good(row: Sequence[Any], now: datetime) -> bool:
    """Whether an AUTHENTICATE row is a live session of an active user."""
    _session_id, revoked_at, expires_at, _last_active_at, active = row[:5]
    expires = utc(expires_at)
    return revoked_at is None and expires is not None and expires > now and bool(active)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: an authenticated user and the session they used."""

    user: UserOut
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
        self._login_rate = settings.login_rate
        self._db = db
        self._state = state
        self._notifier = notifier

    async def login(
        self, email_address: str, password: str, *, ip: str | None = None
    ) -> tuple[str, models.User]:
        """Sign in. `ip` given (the HTTP path): throttled per IP, every attempt counting."""
        if ip is not None:
            await self._throttle_login(ip)
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
        principal, _ = await self.authenticate_and_read(token, None)
        return principal

    async def authenticate_and_read(
        self, token: str | None, then: Callable[[Query, str], T] | None
    ) -> tuple[Principal, T | None]:
        """`authenticate`, and `then(query, user_id)` in the same `Database.read` when the
        token is good: a connecting socket reads its rooms with its session, in one hand-off
        to the reader thread instead of two (each ~4% of a connection's setup, measured)."""
        if not token:
            raise CampfireError(ErrorCode.auth_required, "a session token is required")
        if not token.isascii():  # tokens are URL-safe base64; anything else cannot match
            raise CampfireError(ErrorCode.auth_failed, "unknown session token")
        now = utcnow()
        hashed = token_hash(token)

        def read(
            query: Query,
        ) -> tuple[Sequence[Any] | None, bool, Sequence[Any] | None, T | None]:
            rows = query(AUTHENTICATE, {"token_hash": hashed})
            if rows:
                session = rows[0]
                good = _session_is_good(session, now)
                return session, good, None, then(query, session[5]) if then and good else None
            bots = query(AUTHENTICATE_BOT, {"token_hash": hashed})
            bot = bots[0] if bots else None
            return None, False, bot, then(query, bot[0]) if then and bot else None

        session, good, bot, extra = await self._db.read(read)
        if session is None:
            if bot is None:
                raise CampfireError(ErrorCode.auth_failed, "unknown session token")
            user = _user_out(bot)
            await best_effort(self._state.touch_activity(user.id), "activity stamp", None)
            return Principal(user=user, session_id=BOT_SESSION_PREFIX + user.id), extra
        if not good:
            raise CampfireError(ErrorCode.auth_failed, "session expired or revoked")
        session_id, _revoked_at, _expires_at, last_active_at, _active, *user = session
        last_active = utc(last_active_at)
        if last_active is None or now - last_active >= TOUCH_INTERVAL:
            async with self._db.engine.begin() as connection:
                await connection.execute(
                    TOUCH_SESSION, {"session": session_id, "now": now, "expires": now + self._ttl}
                )
        principal_user = _user_out(user)
        # "Recently active" is a nicety: a Redis outage must not refuse every request.
        await best_effort(self._state.touch_activity(principal_user.id), "activity stamp", None)
        return Principal(user=principal_user, session_id=session_id), extra

    async def _throttle_login(self, ip: str) -> None:
        decision = await self._state.acquire_rate(
            f"login:{ip}", self._login_rate, LOGIN_WINDOW_SECONDS
        )
        if not decision.allowed:
            raise CampfireError(
                ErrorCode.rate_limit_exceeded,
                "too many sign-in attempts; wait a little",
                retry_after=decision.retry_after,
            )

    async def revoke_sessions(
        self, user_id: str, reason: str, *, keep_session: str | None = None
    ) -> None:
        """Revoke every session of a user (but `keep_session`) and close their sockets,
        on whichever process holds them."""
        now = utcnow()
        async with self._db.engine.begin() as connection:
            query = update(SESSIONS).where(
                SESSIONS.c.user_id == user_id, SESSIONS.c.revoked_at.is_(None)
            )
            if keep_session is not None:
                query = query.where(SESSIONS.c.id != keep_session)
            await connection.execute(query.values(revoked_at=now))
        connections = await self._state.user_connections(user_id)
        await self._notifier.disconnect(
            [c.sid for c in connections if c.session_id != keep_session], reason
        )

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
