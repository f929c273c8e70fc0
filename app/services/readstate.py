"""Read state and involvement per membership (PROTOCOL.md section 9.2).

`last_read_seq` only moves forward; `RoomRead` carries it to the user's other connections, so
read state follows a person across tabs and devices. Unread counts are computed when a room
list is read, in one statement for all of a user's rooms (never one per room), and only for
the rooms whose `last_seq` is past the member's `last_read_seq`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from app.db import Database, Query, in_list, utc
from app.errors import invalid, not_found, room_access_denied
from app.notifier import Notifier
from app.schemas import wire
from app.schemas_readstate import MemberRoomOut, RoomReadOut
from app.services.auth import Principal

# A user's rooms with their read state, the most recently active first.
ROOMS_OF = (
    "SELECT r.id, r.name, r.kind, r.created_at, r.creator_id, r.last_seq,"
    " m.last_read_seq, m.involvement{count}"
    " FROM rooms AS r JOIN memberships AS m ON m.room_id = r.id"
    " WHERE m.user_id = :user{only}"
    " ORDER BY COALESCE(r.last_message_at, r.created_at) DESC, r.id"
)
# Each room's size, when some rooms may be too big to list (CAMPFIRE_ROOM_MEMBER_IDS_MAX):
# a count over the memberships primary key (room_id first), never reading the member ids.
MEMBER_COUNT = ", (SELECT COUNT(*) FROM memberships AS c WHERE c.room_id = r.id) AS member_count"
MEMBERS_OF_ROOMS = (
    "SELECT room_id, user_id FROM memberships WHERE room_id IN {ids} ORDER BY created_at"
)
# Messages after the member's last_read_seq by others, tombstones excluded, per room, and
# whether one of them mentions the member: one range scan of the (room_id, seq) index per
# room with anything unread. mention_ids is a JSON array of UUIDs, so the quoted id matches
# exactly one element (a UUID holds neither LIKE wildcard).
UNREAD = (
    "SELECT msg.room_id, COUNT(*),"
    " MAX(CASE WHEN msg.mention_ids LIKE :mention THEN 1 ELSE 0 END)"
    " FROM memberships AS m"
    " JOIN messages AS msg ON msg.room_id = m.room_id AND msg.seq > m.last_read_seq"
    " WHERE m.user_id = :user AND m.room_id IN {ids} AND msg.creator_id <> :user"
    " AND NOT msg.deleted"
    " GROUP BY msg.room_id"
)
READ_POSITION = (
    "SELECT r.last_seq, m.last_read_seq FROM rooms AS r"
    " LEFT JOIN memberships AS m ON m.room_id = r.id AND m.user_id = :user"
    " WHERE r.id = :room"
)
ADVANCE = (
    "UPDATE memberships SET last_read_seq = :seq"
    " WHERE room_id = :room AND user_id = :user AND last_read_seq < :seq"
)
SET_INVOLVEMENT = (
    "UPDATE memberships SET involvement = :involvement WHERE room_id = :room AND user_id = :user"
)


def member_rooms(
    query: Query, user_id: str, room_id: str | None = None, member_ids_max: int = 0
) -> list[MemberRoomOut]:
    """A user's rooms (or one of them) with members and read state, in three statements
    at most, whatever the number of rooms. For `Database.read`.

    A room of more than `member_ids_max` members (0: no limit) comes with `member_count`
    and without `member_ids`, whose ids are then not even read."""
    params: dict[str, Any] = {"user": user_id}
    only = ""
    if room_id is not None:
        only, params["room"] = " AND r.id = :room", room_id
    counted = member_ids_max > 0
    rooms = query(ROOMS_OF.format(only=only, count=MEMBER_COUNT if counted else ""), params)
    if not rooms:
        return []
    big = {room[0]: int(room[8]) for room in rooms if counted and room[8] > member_ids_max}
    members: dict[str, list[str]] = {room[0]: [] for room in rooms if room[0] not in big}
    if members:
        ids, id_params = in_list("room", list(members))
        for member_room, member_id in query(MEMBERS_OF_ROOMS.format(ids=ids), id_params):
            members[member_room].append(member_id)
    behind = [room[0] for room in rooms if room[5] > room[6]]
    unread = _unread(query, user_id, behind) if behind else {}
    return [
        MemberRoomOut.model_construct(
            id=rid,
            name=name,
            kind=kind,
            created_at=utc(created_at),
            creator_id=creator_id,
            member_ids=members.get(rid),
            member_count=big.get(rid),
            last_seq=last_seq,
            last_read_seq=last_read_seq,
            unread_count=unread.get(rid, (0, False))[0],
            mentioned=unread.get(rid, (0, False))[1],
            involvement=involvement,
        )
        for (
            rid,
            name,
            kind,
            created_at,
            creator_id,
            last_seq,
            last_read_seq,
            involvement,
            *_,
        ) in rooms
    ]


def _unread(query: Query, user_id: str, room_ids: Sequence[str]) -> dict[str, tuple[int, bool]]:
    """Per room: (unread messages by others, whether one of them mentions the user)."""
    ids, params = in_list("room", room_ids)
    params = {**params, "user": user_id, "mention": f'%"{user_id}"%'}
    rows = query(UNREAD.format(ids=ids), params)
    return {room_id: (int(count), bool(mentioned)) for room_id, count, mentioned in rows}


class ReadStateService:
    def __init__(self, db: Database, notifier: Notifier, member_ids_max: int = 0) -> None:
        self._db = db
        self._notifier = notifier
        # CAMPFIRE_ROOM_MEMBER_IDS_MAX: a big room's RoomUpdated carries member_count only.
        self._member_ids_max = member_ids_max

    async def room_for(self, user_id: str, room_id: str) -> MemberRoomOut:
        limit = self._member_ids_max
        rooms = await self._db.read(lambda query: member_rooms(query, user_id, room_id, limit))
        if not rooms:
            raise room_access_denied()
        return rooms[0]

    async def mark_read(
        self, actor: Principal, room_id: str, seq: int, *, skip_sid: str | None = None
    ) -> RoomReadOut:
        """Move the actor's `last_read_seq` forward to `seq` (a lower one changes nothing).

        The answer is the read state after the call; when it moved, `RoomRead` goes to the
        actor's connections (except `skip_sid`, the socket that asked, which gets the ack).
        """
        user_id = actor.user_id
        async with self._db.engine.begin() as connection:
            params = {"room": room_id, "user": user_id}
            row = (await connection.execute(text(READ_POSITION), params)).first()
            if row is None:
                raise not_found("room")
            last_seq, last_read_seq = row
            if last_read_seq is None:
                raise room_access_denied()
            if seq > last_seq:
                raise invalid(f"seq {seq} is past the room's last message ({last_seq})")
            moved = False
            if seq > last_read_seq:
                result = await connection.execute(text(ADVANCE), {**params, "seq": seq})
                moved = bool(result.rowcount)
            if moved:
                last_read_seq = seq
            else:  # another connection may have moved it further meanwhile
                row = (await connection.execute(text(READ_POSITION), params)).first()
                last_read_seq = row[1] if row is not None and row[1] is not None else 0
        out = RoomReadOut(room_id=room_id, last_read_seq=int(last_read_seq))
        if moved:
            skip = [skip_sid] if skip_sid else ()
            await self._notifier.to_user(user_id, "RoomRead", wire(out), skip_sids=skip)
        return out

    async def set_involvement(
        self, actor: Principal, room_id: str, involvement: str
    ) -> MemberRoomOut:
        """Change how much of a room reaches the actor; the actor's connections get the
        room's member view as `RoomUpdated` (involvement is a per-member setting)."""
        params = {"room": room_id, "user": actor.user_id, "involvement": involvement}
        async with self._db.engine.begin() as connection:
            result = await connection.execute(text(SET_INVOLVEMENT), params)
            if not result.rowcount:
                exists = await connection.execute(
                    text("SELECT 1 FROM rooms WHERE id = :room"), {"room": room_id}
                )
                if exists.first() is None:
                    raise not_found("room")
                raise room_access_denied()
        room = await self.room_for(actor.user_id, room_id)
        await self._notifier.to_user(actor.user_id, "RoomUpdated", {"room": wire(room)})
        return room
