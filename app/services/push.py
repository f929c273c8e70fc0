"""Notifications (PROTOCOL.md section 9.2): visibility, Web Push subscriptions, and the
delivery of encrypted pushes to notified members who have no visible connection.

A message notifies each other member whose involvement is `everything`, or `mentions` and who
is named in its `mention_ids`. Delivery runs in a background job (jobs/push.py), never on the
send path: the web process batches sent messages into one job per short window, and one job
answers for every recipient of every message in it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from pywebpush import WebPusher
from sqlalchemy import delete, select, update

from app import models
from app.config import Settings
from app.db import Database, Query, in_list
from app.errors import invalid
from app.metrics import Metrics
from app.services.auth import Principal
from app.services.vapid import VapidSigner, load_or_create
from app.state import RealtimeState

log = logging.getLogger(__name__)

SUBSCRIPTIONS = models.PushSubscription.__table__  # type: ignore[attr-defined]
BODY_LENGTH = 200
# Deployment-wide counters in the real-time state, shown on every process's /metrics.
COUNTERS = ("push_sent", "push_gone", "push_retried", "push_dropped")
# Members who may be notified, with their subscriptions: one statement for a whole batch.
RECIPIENTS = (
    "SELECT m.room_id, m.user_id, m.involvement, s.id, s.endpoint, s.p256dh, s.auth"
    " FROM memberships AS m JOIN push_subscriptions AS s ON s.user_id = m.user_id"
    " WHERE m.room_id IN {ids} AND m.involvement IN ('everything', 'mentions')"
)
ROOM_NAMES = "SELECT id, name, kind FROM rooms WHERE id IN {ids}"
USER_NAMES = "SELECT id, name FROM users WHERE id IN {ids}"


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    user_id: str
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True, slots=True)
class Push:
    subscription: Subscription
    payload: bytes


def notified(creator_id: str, mention_ids: Iterable[str], members: dict[str, str]) -> set[str]:
    """Who a message notifies, from its members' involvement (user id -> level)."""
    mentioned = set(mention_ids)
    return {
        user_id
        for user_id, level in members.items()
        if user_id != creator_id
        and (level == "everything" or (level == "mentions" and user_id in mentioned))
    }


def sent_message(message: Any) -> dict[str, Any]:
    """What a push job needs of a stored message (JSON- and pickle-friendly)."""
    return {
        "id": message.id,
        "room_id": message.room_id,
        "creator_id": message.creator_id,
        "content": message.content,
        "seq": message.seq,
        "mention_ids": list(getattr(message, "mention_ids", None) or ()),
    }


class PushService:
    def __init__(
        self, settings: Settings, db: Database, state: RealtimeState, metrics: Metrics
    ) -> None:
        self._settings = settings
        self._db = db
        self._state = state
        self._metrics = metrics
        self._signer: VapidSigner | None = None
        self._signer_lock = asyncio.Lock()
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    # ---- keys, subscriptions, visibility ----------------------------------------------

    async def signer(self) -> VapidSigner:
        async with self._signer_lock:
            if self._signer is None:
                key = await load_or_create(self._db, self._settings.vapid_private_key)
                self._signer = VapidSigner(key, self._settings.vapid_subject)
        return self._signer

    async def public_key(self) -> str:
        return (await self.signer()).public_key

    async def subscribe(self, actor: Principal, endpoint: str, p256dh: str, auth: str) -> bool:
        """Store a subscription for the actor; False when it was already theirs. An endpoint
        names one browser profile, so one that was another user's moves to the actor."""
        self._check_endpoint(endpoint)
        async with self._db.engine.begin() as connection:
            row = (
                await connection.execute(
                    select(SUBSCRIPTIONS.c.user_id).where(SUBSCRIPTIONS.c.endpoint == endpoint)
                )
            ).first()
            if row is not None:
                await connection.execute(
                    update(SUBSCRIPTIONS)
                    .where(SUBSCRIPTIONS.c.endpoint == endpoint)
                    .values(user_id=actor.user_id, p256dh=p256dh, auth=auth)
                )
                return row[0] != actor.user_id
            await connection.execute(
                SUBSCRIPTIONS.insert().values(
                    id=models.new_id(),
                    user_id=actor.user_id,
                    endpoint=endpoint,
                    p256dh=p256dh,
                    auth=auth,
                    created_at=models.utcnow(),
                )
            )
        return True

    async def unsubscribe(self, actor: Principal, endpoint: str) -> None:
        async with self._db.engine.begin() as connection:
            await connection.execute(
                delete(SUBSCRIPTIONS).where(
                    SUBSCRIPTIONS.c.endpoint == endpoint,
                    SUBSCRIPTIONS.c.user_id == actor.user_id,
                )
            )

    async def set_visible(self, connection_id: str, visible: bool) -> None:
        await self._state.set_visible(connection_id, visible)

    def _check_endpoint(self, endpoint: str) -> None:
        try:
            parts = urlsplit(endpoint)
            parts.port  # noqa: B018 (raises for a port that is not a number)
        except ValueError:
            raise invalid("endpoint is not a valid URL") from None
        if self._settings.push_allow_http:
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise invalid("endpoint must be an http(s) URL")
            return
        if parts.scheme != "https" or not parts.hostname:
            raise invalid("endpoint must be an https URL")
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return
        if not address.is_global:
            raise invalid("endpoint must be a public push service")

    # ---- delivery (the job) ---------------------------------------------------------

    async def deliver(self, messages: Sequence[dict[str, Any]]) -> int:
        """Push every message of a batch to its notified members without a visible
        connection, at each of their subscriptions; returns how many pushes were accepted."""
        if not messages:
            return 0
        creators: dict[str, set[str]] = defaultdict(set)
        for message in messages:
            creators[message["room_id"]].add(message["creator_id"])
        members, subscriptions, rooms, names = await self._db.read(
            lambda query: _recipients(query, creators)
        )
        if not members:
            return 0  # nobody in these rooms has a push subscription
        targets: list[tuple[dict[str, Any], set[str]]] = []
        for message in messages:
            users = notified(
                message["creator_id"], message["mention_ids"], members[message["room_id"]]
            )
            targets.append((message, users))
        everyone = set().union(*(users for _, users in targets))
        if not everyone:
            return 0
        visible = await self._state.visible_users(everyone)
        pushes = [
            Push(subscription, _payload(message, rooms, names))
            for message, users in targets
            for user_id in sorted(users - visible)
            for subscription in subscriptions[user_id]
        ]
        if not pushes:
            return 0
        signer = await self.signer()
        limit = asyncio.Semaphore(max(1, self._settings.push_concurrency))
        results = await asyncio.gather(*(self._send(push, signer, limit) for push in pushes))
        return sum(results)

    async def _send(self, push: Push, signer: VapidSigner, limit: asyncio.Semaphore) -> int:
        settings = self._settings
        subscription = push.subscription
        for attempt in range(max(1, settings.push_attempts)):
            if attempt:
                await self._state.add_counter("push_retried")
                backoff = settings.push_backoff_seconds * 2 ** (attempt - 1)
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            async with limit:
                status = await self._post(push, signer)
            if status is not None and 200 <= status < 300:
                await self._state.add_counter("push_sent")
                return 1
            if status in (404, 410):
                await self._forget(subscription)
                return 0
            log.info("push to %s failed (%s), try %d", subscription.endpoint, status, attempt + 1)
        log.warning("push to %s dropped after %d tries", subscription.endpoint, attempt + 1)
        await self._state.add_counter("push_dropped")
        return 0

    async def _post(self, push: Push, signer: VapidSigner) -> int | None:
        subscription = push.subscription
        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            pusher = WebPusher(info, aiohttp_session=self._session())
            response = await pusher.send_async(
                push.payload,
                headers={**signer.headers(subscription.endpoint), "Urgency": "normal"},
                ttl=self._settings.push_ttl_seconds,
                timeout=aiohttp.ClientTimeout(total=self._settings.push_timeout_seconds),
            )
        except Exception as exc:  # unreachable, timed out, refused: worth another try
            log.info("push to %s raised %r", subscription.endpoint, exc)
            return None
        return int(getattr(response, "status", 0))

    async def _forget(self, subscription: Subscription) -> None:
        # By id: the same endpoint may have been subscribed again since this job read it.
        async with self._db.engine.begin() as connection:
            await connection.execute(
                delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == subscription.id)
            )
        await self._state.add_counter("push_gone")
        log.info("push subscription %s is gone; deleted", subscription.endpoint)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    # ---- metrics --------------------------------------------------------------------

    async def refresh_metrics(self) -> None:
        """Copy the deployment-wide push counters into this process's /metrics."""
        try:
            values = await self._state.counters()
        except Exception:
            log.exception("reading the push counters failed")
            return
        self._metrics.shared_counters.update({name: values.get(name, 0.0) for name in COUNTERS})


def _recipients(
    query: Query, creators: dict[str, set[str]]
) -> tuple[
    dict[str, dict[str, str]],
    dict[str, list[Subscription]],
    dict[str, tuple[str, str]],
    dict[str, str],
]:
    """Who may be notified in the rooms of `creators` (room id -> its messages' creators),
    with their subscriptions, and the names a payload shows: only of the rooms that have
    such members, and of their messages' creators (a batch in rooms where nobody has a
    subscription, the common case, costs one statement)."""
    members: dict[str, dict[str, str]] = defaultdict(dict)
    subscriptions: dict[str, list[Subscription]] = defaultdict(list)
    ids, params = in_list("room", sorted(creators))
    for room_id, user_id, involvement, sub_id, endpoint, p256dh, auth in query(
        RECIPIENTS.format(ids=ids), params
    ):
        members[room_id][user_id] = involvement
        if all(s.id != sub_id for s in subscriptions[user_id]):
            subscriptions[user_id].append(Subscription(sub_id, user_id, endpoint, p256dh, auth))
    if not members:
        return members, subscriptions, {}, {}
    ids, params = in_list("room", sorted(members))
    rooms = {rid: (name, kind) for rid, name, kind in query(ROOM_NAMES.format(ids=ids), params)}
    creator_ids = sorted(set().union(*(creators[room_id] for room_id in members)))
    user_ids, user_params = in_list("user", creator_ids)
    names = dict(query(USER_NAMES.format(ids=user_ids), user_params))
    return members, subscriptions, rooms, names


def _payload(
    message: dict[str, Any], rooms: dict[str, tuple[str, str]], names: dict[str, str]
) -> bytes:
    room_name, kind = rooms.get(message["room_id"], ("Campfire", "open"))
    author = names.get(message["creator_id"], "Someone")
    content = " ".join(message["content"].split())
    if len(content) > BODY_LENGTH:
        content = content[: BODY_LENGTH - 1] + "\u2026"
    if kind == "direct":
        title, body = author, content
    else:
        title, body = room_name, f"{author}: {content}"
    return orjson.dumps(
        {
            "title": title,
            "body": body,
            "room_id": message["room_id"],
            "message_id": message["id"],
            "url": f"/?room={message['room_id']}",
        }
    )
