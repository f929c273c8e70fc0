"""Changing sent messages (PROTOCOL.md 9.1): edit, delete to a tombstone, boosts, `after_rev`.

Every change runs in one write transaction (`MessageStore.transact`) that first locks the
room's row, then checks the rules against the committed state, changes the message and takes
the room's next `rev`. The lock orders a room's changes (and its new messages' seqs), so revs
are gapless and each change sees the one before it; a refused change rolls back and takes no
rev. After the commit, `MessageUpdated` goes to the room in rev order (`in_room_order`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.db import Database, in_list
from app.errors import forbidden, invalid, not_found, room_access_denied
from app.models import new_id, utcnow
from app.notifier import Notifier
from app.schemas import BoostOut, MessageOut
from app.services import message_rows
from app.services.auth import Principal
from app.services.message_store import Tx
from app.services.messages import HISTORY_MAX_LIMIT, MessageService
from app.services.rooms import RoomService

log = logging.getLogger(__name__)

ROOM_OF = "SELECT room_id FROM messages WHERE id = :id"
LOCK_ROOM = "SELECT last_rev FROM rooms WHERE id = :room"
IS_MEMBER = "SELECT 1 FROM memberships WHERE room_id = :room AND user_id = :user"
MEMBERS_AMONG = "SELECT user_id FROM memberships WHERE room_id = :room AND user_id IN {ids}"
BY_ID = f"SELECT {message_rows.COLUMNS_SQL} FROM messages WHERE id = :id"
BUMP_ROOM = "UPDATE rooms SET last_rev = :rev WHERE id = :room"
BUMP_MESSAGE = "UPDATE messages SET rev = :rev WHERE id = :id"
EDIT = (
    "UPDATE messages SET content = :content, edited_at = :now, mention_ids = :mentions"
    " WHERE id = :id"
)
TOMBSTONE = (
    "UPDATE messages SET content = '', deleted = :deleted, mention_ids = :mentions WHERE id = :id"
)
DELETE_BOOSTS = "DELETE FROM boosts WHERE message_id = :id"
FIND_BOOST = (
    f"SELECT {message_rows.BOOST_COLUMNS} FROM boosts"
    " WHERE message_id = :id AND user_id = :user AND content = :content"
)
BOOST_BY_ID = f"SELECT {message_rows.BOOST_COLUMNS} FROM boosts WHERE id = :boost"
INSERT_BOOST = (
    "INSERT INTO boosts (id, message_id, user_id, content, created_at)"
    " VALUES (:boost, :id, :user, :content, :now)"
)
DELETE_BOOST = "DELETE FROM boosts WHERE id = :boost"

# Runs inside a delete's transaction, before it commits (e.g. forgetting a message's files).
DeleteHook = Callable[[Tx, MessageOut], None]
# Runs after a delete committed (e.g. removing the files from storage).
AfterDelete = Callable[[MessageOut], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Change:
    message: MessageOut  # its state after the change (or as it is, when nothing changed)
    changed: bool  # False: nothing to do (a boost already there, a tombstone deleted again)
    boost: BoostOut | None = None

    def update(self) -> dict[str, Any]:
        """The `MessageUpdated` payload (also the ack of the socket events)."""
        message = self.message
        return {"room_id": message.room_id, "rev": message.rev, "message": wire_message(message)}


def wire_message(message: MessageOut) -> dict[str, Any]:
    return message.model_dump(mode="json")


@dataclass(slots=True)
class _Located:
    message: MessageOut
    last_rev: int


class LifecycleService:
    def __init__(
        self, db: Database, notifier: Notifier, rooms: RoomService, messages: MessageService
    ) -> None:
        self._db = db
        self._notifier = notifier
        self._rooms = rooms
        self._messages = messages
        self.delete_hooks: list[DeleteHook] = []
        self.after_delete: list[AfterDelete] = []

    # ---- changes ------------------------------------------------------------------

    async def edit(
        self,
        actor: Principal,
        message_id: str,
        content: str,
        mention_ids: Sequence[str] | None = None,
        *,
        room_id: str | None = None,
    ) -> Change:
        """The creator only; `mention_ids` None keeps the message's mentions."""

        def work(tx: Tx) -> Change:
            found = _locate(tx, actor, message_id, room_id)
            message = found.message
            if message.deleted:
                raise not_found("message")
            if message.creator_id != actor.user_id:
                raise forbidden("only its author may edit a message")
            if not content.strip() and not message.attachments:
                # As for sending: only a message with files may be left without text.
                raise invalid("content must not be empty or blank (unless files are attached)")
            mentions = message.mention_ids if mention_ids is None else list(mention_ids)
            if mention_ids is not None:
                _require_members(tx, message.room_id, mentions)
            params = {
                "id": message_id,
                "content": content,
                "now": tx.time(utcnow()),
                "mentions": message_rows.mentions_json(mentions),
            }
            tx.query(EDIT, params)
            return Change(_bump(tx, found), changed=True)

        return await self._apply(work)

    async def delete(
        self, actor: Principal, message_id: str, *, room_id: str | None = None
    ) -> Change:
        """The creator or an admin. The message stays as a tombstone at its seq."""

        def work(tx: Tx) -> Change:
            found = _locate(tx, actor, message_id, room_id)
            message = found.message
            if message.creator_id != actor.user_id and not actor.is_admin:
                raise forbidden("only its author or an admin may delete a message")
            if message.deleted:
                return Change(message, changed=False)
            for hook in self.delete_hooks:
                hook(tx, message)
            tx.query(DELETE_BOOSTS, {"id": message_id})
            params = {"id": message_id, "deleted": True, "mentions": message_rows.NO_MENTIONS}
            tx.query(TOMBSTONE, params)
            return Change(_bump(tx, found), changed=True)

        change = await self._apply(work)
        if change.changed:
            for after in self.after_delete:
                try:
                    await after(change.message)
                except Exception:
                    log.exception("after-delete hook for message %s failed", message_id)
        return change

    async def add_boost(
        self, actor: Principal, message_id: str, content: str, *, room_id: str | None = None
    ) -> Change:
        """Any member; the same user boosting with the same content again changes nothing."""

        def work(tx: Tx) -> Change:
            found = _locate(tx, actor, message_id, room_id)
            if found.message.deleted:
                raise not_found("message")
            params = {"id": message_id, "user": actor.user_id, "content": content}
            existing = tx.query(FIND_BOOST, params)
            if existing:
                boost = message_rows.boost_from_row(existing[0])
                return Change(found.message, changed=False, boost=boost)
            boost_id = new_id()
            tx.query(INSERT_BOOST, {**params, "boost": boost_id, "now": tx.time(utcnow())})
            message = _bump(tx, found)
            boost = next(b for b in message.boosts if b.id == boost_id)
            return Change(message, changed=True, boost=boost)

        return await self._apply(work)

    async def remove_boost(
        self, actor: Principal, message_id: str, boost_id: str, *, room_id: str | None = None
    ) -> Change:
        """The booster or an admin."""

        def work(tx: Tx) -> Change:
            found = _locate(tx, actor, message_id, room_id)
            rows = tx.query(BOOST_BY_ID, {"boost": boost_id})
            if not rows or rows[0][1] != message_id:
                raise not_found("boost")
            boost = message_rows.boost_from_row(rows[0])
            if boost.user_id != actor.user_id and not actor.is_admin:
                raise forbidden("only its booster or an admin may remove a boost")
            tx.query(DELETE_BOOST, {"boost": boost_id})
            return Change(_bump(tx, found), changed=True, boost=boost)

        return await self._apply(work)

    async def attachments_changed(self, message_id: str) -> Change | None:
        """A file of a sent message changed (its thumbnail was made later): the message takes
        the room's next rev and `MessageUpdated` carries it, so that clients that showed it
        without a thumbnail get one, live or by `last_rev` recovery. No actor: the system's."""

        def work(tx: Tx) -> Change | None:
            rows = tx.query(ROOM_OF, {"id": message_id})
            if not rows:
                return None
            locked = tx.query(LOCK_ROOM + tx.for_update, {"room": rows[0][0]})
            if not locked:
                return None
            [message] = message_rows.load(tx.query, BY_ID, {"id": message_id})
            if message.deleted:
                return Change(message, changed=False)
            return Change(_bump(tx, _Located(message, int(locked[0][0]))), changed=True)

        change = await self._messages.store.transact(work)
        if change is not None:
            self._announce(change)
        return change

    async def _apply(self, work: Callable[[Tx], Change]) -> Change:
        change = await self._messages.store.transact(work)
        self._announce(change)
        return change

    def _announce(self, change: Change) -> None:
        if change.changed:
            payload = change.update()
            room_id = change.message.room_id
            self._messages.in_room_order(
                room_id, lambda: self._notifier.to_room(room_id, "MessageUpdated", payload)
            )

    # ---- reading ------------------------------------------------------------------

    async def changed_since(
        self,
        actor: Principal,
        room_id: str,
        after_rev: int,
        limit: int,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
    ) -> list[MessageOut]:
        """The polling form of recovery: messages changed after `after_rev`, ascending by rev
        (only those between the seqs, when given)."""
        if limit < 1:
            raise invalid("limit must be at least 1")
        await self._rooms.require_readable(actor, room_id)
        sql = f"SELECT {message_rows.COLUMNS_SQL} FROM messages WHERE room_id = :room"
        sql += " AND rev > :after"
        params = {"room": room_id, "after": after_rev, "limit": min(limit, HISTORY_MAX_LIMIT)}
        if after_seq is not None:
            sql += " AND seq > :after_seq"
            params["after_seq"] = after_seq
        if before_seq is not None:
            sql += " AND seq < :before_seq"
            params["before_seq"] = before_seq
        sql += " ORDER BY rev LIMIT :limit"
        return await self._db.read(lambda query: message_rows.load(query, sql, params))


def _locate(tx: Tx, actor: Principal, message_id: str, room_id: str | None) -> _Located:
    """Find the message, lock its room and check that the actor is a member.

    `room_id` is the room an HTTP path names: a message of another room is not found there.
    """
    rows = tx.query(ROOM_OF, {"id": message_id})
    message_room = rows[0][0] if rows else None
    if room_id is None:
        if message_room is None:
            raise not_found("message")
        room_id = message_room
    locked = tx.query(LOCK_ROOM + tx.for_update, {"room": room_id})
    if not locked:
        raise not_found("room")
    if not tx.query(IS_MEMBER, {"room": room_id, "user": actor.user_id}):
        raise room_access_denied()
    if message_room != room_id:
        raise not_found("message")
    [message] = message_rows.load(tx.query, BY_ID, {"id": message_id})
    return _Located(message, int(locked[0][0]))


def _require_members(tx: Tx, room_id: str, user_ids: list[str]) -> None:
    if not user_ids:
        return
    ids, params = in_list("u", user_ids)
    found = {row[0] for row in tx.query(MEMBERS_AMONG.format(ids=ids), {**params, "room": room_id})}
    if len(found) != len(set(user_ids)):
        raise invalid("mention_ids: every mentioned user must be a member of the room")


def _bump(tx: Tx, found: _Located) -> MessageOut:
    """Give the change the room's next rev; return the message as it now is."""
    rev = found.last_rev + 1
    message_id = found.message.id
    tx.query(BUMP_ROOM, {"rev": rev, "room": found.message.room_id})
    tx.query(BUMP_MESSAGE, {"rev": rev, "id": message_id})
    [message] = message_rows.load(tx.query, BY_ID, {"id": message_id})
    return message
