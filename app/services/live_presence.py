"""Which rooms get live presence (room-wide `UserJoined`/`UserLeft` and a full
`PresenceUpdate` at authentication), and which are too big for it.

Pushing presence room-wide costs about N^2 / 2 deliveries when the N members of a room come
online (50 million for 10,000), and a full `PresenceUpdate` per authenticating socket about
N^2 user ids. So a room of more than `CAMPFIRE_LIVE_PRESENCE_MAX_MEMBERS` members has presence
on request only (`GetPresence`, `GET /api/rooms/{id}/presence`), as big chat services do for
huge channels; see docs/protocol-notes.md. The size is read when the event happens, so a room
that crosses the threshold switches at its next presence event.
"""

from __future__ import annotations

from app.db import Database

# A member's rooms that are small enough for live presence. The OFFSET probe reads at most
# max + 1 index entries of each room (the memberships primary key starts with room_id), so
# it costs the same for a room of 1,001 members as for one of 100,000.
LIVE_ROOMS_OF = (
    "SELECT m.room_id FROM memberships AS m WHERE m.user_id = :user AND NOT EXISTS"
    " (SELECT 1 FROM memberships AS o WHERE o.room_id = m.room_id LIMIT 1 OFFSET :max)"
)
ROOMS_OF = "SELECT room_id FROM memberships WHERE user_id = :user"
PAST_MAX = "SELECT 1 FROM memberships WHERE room_id = :room LIMIT 1 OFFSET :max"
MEMBERS = "SELECT user_id FROM memberships WHERE room_id = :room ORDER BY created_at"

# Sent in presence answers of a room without live presence (absent for the others, whose
# payloads stay exactly PROTOCOL.md's): clients then fetch its presence when they show it.
NOT_LIVE = {"live": False}


class LivePresence:
    def __init__(self, db: Database, max_members: int) -> None:
        self._db = db
        # 0 (or less): every room has live presence.
        self.max_members = max_members

    def is_live_size(self, member_count: int) -> bool:
        return self.max_members <= 0 or member_count <= self.max_members

    async def is_live(self, room_id: str) -> bool:
        if self.max_members <= 0:
            return True
        params = {"room": room_id, "max": self.max_members}
        return not await self._db.read(lambda query: query(PAST_MAX, params))

    async def member_ids(self, room_id: str) -> list[str]:
        """A room's members in joining order, as RoomService.member_ids, in one plain
        `Database.read`: a presence answer of a room of 10,000 reads them all, and the ORM
        path costs ~2.9x the CPU (54 against 19 ms here for 10,000 rows)."""
        rows = await self._db.read(lambda query: query(MEMBERS, {"room": room_id}))
        return [user_id for (user_id,) in rows]

    async def live_rooms_of(self, user_id: str) -> list[str]:
        """The user's rooms whose members are told when the user comes and goes."""
        if self.max_members <= 0:
            sql, params = ROOMS_OF, {"user": user_id}
        else:
            sql, params = LIVE_ROOMS_OF, {"user": user_id, "max": self.max_members}
        rows = await self._db.read(lambda query: query(sql, params))
        return [room_id for (room_id,) in rows]
