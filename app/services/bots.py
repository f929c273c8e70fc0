"""Bots: accounts an admin makes, that post with a key and answer through a webhook."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from prometheus_client import Counter
from sqlmodel import select

from app import models
from app.config import Settings
from app.db import Database
from app.errors import CampfireError, forbidden, not_found
from app.metrics import Metrics
from app.models import Role, RoomKind
from app.notifier import Notifier
from app.schemas import MessageOut, UserOut, wire
from app.security import new_token, token_hash
from app.services import webhooks
from app.services.auth import BOT_SESSION_PREFIX, Principal
from app.services.messages import MessageService, SendResult
from app.services.people import PeopleService
from app.services.rooms import RoomService
from app.services.users import UserService
from app.state import RealtimeState

log = logging.getLogger(__name__)

# Whether any bot has a webhook is looked up at most this often per process (other
# processes' changes reach this one within it); a bot made here is seen at once.
WEBHOOK_CACHE_SECONDS = 5.0
# A bot receives at most this many webhooks a minute; the rest are dropped and counted, so a
# busy conversation cannot turn into a storm of requests.
WEBHOOK_RATE = 60
BOT_EMAIL_DOMAIN = "bots.campfire.invalid"

ANY_WEBHOOK = "SELECT 1 FROM users WHERE role = 'bot' AND active AND webhook_url IS NOT NULL"
SENDER_ROLE = "SELECT role FROM users WHERE id = :user"
WEBHOOK_BOTS_IN_ROOM = (
    "SELECT u.id FROM memberships AS m JOIN users AS u ON u.id = m.user_id"
    " WHERE m.room_id = :room AND u.role = 'bot' AND u.active AND u.webhook_url IS NOT NULL"
)
ROOM_KIND = "SELECT kind FROM rooms WHERE id = :room"


class WebhookQueue(Protocol):
    async def webhook(self, bot_id: str, message_id: str) -> None:
        """Run `BotService.deliver_webhook(bot_id, message_id)` in a background job."""
        ...


class BotService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        state: RealtimeState,
        notifier: Notifier,
        metrics: Metrics,
        users: UserService,
        people: PeopleService,
        rooms: RoomService,
        messages: MessageService,
    ) -> None:
        self._settings = settings
        self._db = db
        self._state = state
        self._notifier = notifier
        self._users = users
        self._people = people
        self._rooms = rooms
        self._messages = messages
        self.queue: WebhookQueue | None = None
        self._any_webhook: tuple[float, bool] = (0.0, False)
        self.deliveries = Counter(
            "campfire_webhook_deliveries",
            "Bot webhook deliveries by outcome (ok, refused, timeout, error, bad_status, "
            "throttled, failed_reply)",
            ["outcome"],
            registry=metrics.registry,
        )

    # ---- admin ---------------------------------------------------------------------

    async def create(
        self, actor: Principal, *, name: str, webhook_url: str | None
    ) -> tuple[models.User, str]:
        _require_admin(actor)
        if webhook_url:
            await webhooks.check_url(webhook_url, self._settings.webhook_allow_private)
        key = new_token()
        bot_id = str(uuid.uuid4())
        user = models.User(
            id=bot_id,
            name=name,
            email_address=f"bot-{bot_id}@{BOT_EMAIL_DOMAIN}",
            password_hash="!",  # never a valid argon2 hash: a bot cannot sign in
            role=Role.bot,
            bot_key_hash=token_hash(key),
            webhook_url=webhook_url or None,
        )
        async with self._db.session() as db:
            db.add(user)
            await db.commit()
        self._any_webhook = (0.0, False)
        return user, key

    async def list(self, actor: Principal) -> list[models.User]:
        _require_admin(actor)
        async with self._db.session() as db:
            result = await db.exec(
                select(models.User)
                .where(models.User.role == Role.bot, models.User.active)
                .order_by(models.User.name)
            )
            return list(result.all())

    async def update(
        self,
        actor: Principal,
        bot_id: str,
        *,
        name: str | None = None,
        webhook_url: str | None = None,
    ) -> models.User:
        """`webhook_url` "" removes the webhook."""
        _require_admin(actor)
        if webhook_url:
            await webhooks.check_url(webhook_url, self._settings.webhook_allow_private)
        async with self._db.session() as db:
            bot = await _get_bot(db, bot_id)
            if name is not None:
                bot.name = name
            if webhook_url is not None:
                bot.webhook_url = webhook_url or None
            db.add(bot)
            await db.commit()
        self._any_webhook = (0.0, False)
        if name is not None:
            await self._people.announce(UserOut.of(bot))
        return bot

    async def rotate_key(self, actor: Principal, bot_id: str) -> tuple[models.User, str]:
        """A new key; the old one stops working at once, its sockets closed."""
        _require_admin(actor)
        key = new_token()
        async with self._db.session() as db:
            bot = await _get_bot(db, bot_id)
            bot.bot_key_hash = token_hash(key)
            db.add(bot)
            await db.commit()
        connections = await self._state.session_connections(BOT_SESSION_PREFIX + bot_id)
        await self._notifier.disconnect([c.sid for c in connections], "session_revoked")
        return bot, key

    async def delete(self, actor: Principal, bot_id: str) -> None:
        """Deactivate the bot (its messages stay, as for a person) and void its key."""
        _require_admin(actor)
        async with self._db.session() as db:
            await _get_bot(db, bot_id)
        await self._people.deactivate_unchecked(bot_id)
        self._any_webhook = (0.0, False)

    # ---- posting -------------------------------------------------------------------

    async def principal(self, bot_key: str) -> Principal:
        if not bot_key.isascii():
            raise not_found("bot")
        rows = await self._db.read(
            lambda query: query(
                "SELECT id, name, email_address, role, avatar_key FROM users"
                " WHERE bot_key_hash = :hash AND active AND role = 'bot'",
                {"hash": token_hash(bot_key)},
            )
        )
        if not rows:
            raise not_found("bot")
        bot_id, name, email, role, avatar_key = rows[0]
        user = models.User(id=bot_id, name=name, email_address=email, password_hash="!", role=role)
        user.avatar_key = avatar_key
        return Principal(user=UserOut.of(user), session_id=BOT_SESSION_PREFIX + bot_id)

    async def post(self, bot_key: str, room_id: str, content: str) -> SendResult:
        """A message by the bot whose key this is, as a member of the room (joining an open
        room first), under the message rate like anyone's."""
        actor = await self.principal(bot_key)
        room = await self._rooms.get(room_id)
        if room.kind == RoomKind.open and not await self._rooms.is_member(room_id, actor.user_id):
            await self._rooms.join(actor, room_id)
        return await self._messages.send(actor, room_id, content, via="bot")

    # ---- webhooks ------------------------------------------------------------------

    def on_message(self, message: MessageOut) -> Awaitable[None] | None:
        """After a message is stored: the work of queueing a webhook for each bot it concerns,
        or None when there is surely none (no queue, or no webhook at the last look): the
        caller then makes no task for the message, which is most messages' case."""
        if self.queue is None:
            return None
        checked_at, exists = self._any_webhook
        if not exists and time.monotonic() - checked_at < WEBHOOK_CACHE_SECONDS:
            return None
        return self._queue_webhooks(message)

    async def _queue_webhooks(self, message: MessageOut) -> None:
        """Queue a webhook for each bot the message concerns (mentioned, or in a direct room
        with it). Messages by bots never trigger one, so that two bots cannot keep each other
        talking."""
        if self.queue is None or not await self._webhooks_exist():
            return
        mention_ids: Sequence[str] = getattr(message, "mention_ids", None) or ()

        def read(query: Any) -> tuple[str | None, str | None, list[str]]:
            role = query(SENDER_ROLE, {"user": message.creator_id})
            kind = query(ROOM_KIND, {"room": message.room_id})
            bots = query(WEBHOOK_BOTS_IN_ROOM, {"room": message.room_id})
            return (
                role[0][0] if role else None,
                kind[0][0] if kind else None,
                [bot_id for (bot_id,) in bots],
            )

        role, kind, bots = await self._db.read(read)
        if role in (None, Role.bot) or not bots:
            return
        for bot_id in bots:
            if bot_id == message.creator_id:
                continue
            if kind != RoomKind.direct and bot_id not in mention_ids:
                continue
            decision = await self._state.acquire_rate(f"webhook:{bot_id}", WEBHOOK_RATE, 60.0)
            if not decision.allowed:
                self.deliveries.labels("throttled").inc()
                log.warning("webhook of bot %s throttled; message %s", bot_id, message.id)
                continue
            await self.queue.webhook(bot_id, message.id)

    async def _webhooks_exist(self) -> bool:
        checked_at, exists = self._any_webhook
        now = time.monotonic()
        if now - checked_at < WEBHOOK_CACHE_SECONDS:
            return exists
        rows = await self._db.read(lambda query: query(ANY_WEBHOOK, {}))
        self._any_webhook = (now, bool(rows))
        return bool(rows)

    async def deliver_webhook(self, bot_id: str, message_id: str) -> str:
        """The background job: POST `{user, room, message}`, post the answer as the reply.
        One try: a failure is logged and counted, never retried."""
        payload = await self._payload(bot_id, message_id)
        if payload is None:
            return "gone"
        url, data, room_id = payload
        outcome = await webhooks.post(
            url,
            data,
            seconds=self._settings.webhook_timeout_seconds,
            allow_private=self._settings.webhook_allow_private,
        )
        if outcome.kind != "ok":
            self.deliveries.labels(outcome.kind).inc()
            log.warning("webhook of bot %s failed (%s): %s", bot_id, outcome.kind, outcome.detail)
            return outcome.kind
        if outcome.reply is not None:
            reply = outcome.reply[: self._settings.max_content_length]
            try:
                actor = await self._bot_principal(bot_id)
                await self._messages.send(actor, room_id, reply, via="webhook")
            except CampfireError as exc:
                self.deliveries.labels("failed_reply").inc()
                log.warning("reply of bot %s not posted: %s", bot_id, exc.message)
                return "failed_reply"
        self.deliveries.labels("ok").inc()
        return "ok"

    async def _bot_principal(self, bot_id: str) -> Principal:
        async with self._db.session() as db:
            bot = await _get_bot(db, bot_id)
        return Principal(user=UserOut.of(bot), session_id=BOT_SESSION_PREFIX + bot_id)

    async def _payload(
        self, bot_id: str, message_id: str
    ) -> tuple[str, dict[str, Any], str] | None:
        async with self._db.session() as db:
            bot = await db.get(models.User, bot_id)
            message = (
                await db.exec(select(models.Message).where(models.Message.id == message_id))
            ).first()
            if bot is None or not bot.active or not bot.webhook_url or message is None:
                return None
            room = await db.get(models.Room, message.room_id)
            sender = await db.get(models.User, message.creator_id)
            if room is None or sender is None:
                return None
        data = {
            "user": wire(UserOut.of(sender)),
            # Per message: a big room goes with member_count only (RoomService.brief).
            "room": wire(await self._rooms.brief(room)),
            "message": wire(MessageOut.of(message)),
        }
        return bot.webhook_url, data, room.id


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise forbidden("only an admin may manage bots")


async def _get_bot(db: Any, bot_id: str) -> models.User:
    bot = await db.get(models.User, bot_id)
    if bot is None or bot.role != Role.bot or not bot.active:
        raise not_found("bot")
    return bot
