"""The statements of the group-committed message write (`message_store`), built once.

Plain SQL for each driver, built once: asyncpg's for PostgreSQL (`message_batch_postgres`),
sqlite3's for SQLite (`message_batch_sqlite`). Both write the same columns (`MESSAGE_FIELDS`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.services import message_rows

# What a new message's row is written with; the other columns take their defaults (never
# edited, not deleted, rev 0).
MESSAGE_FIELDS = (
    "id",
    "room_id",
    "creator_id",
    "content",
    "client_message_id",
    "created_at",
    "seq",
    "mention_ids",
)

# asyncpg (PostgreSQL, `message_batch_postgres`): numbered parameters, a batch's keys, pairs
# and rows as arrays, so each statement is one round trip and one prepared statement whatever
# the batch's size.
_M_COLUMNS = ", ".join(f"m.{name}" for name in message_rows.COLUMNS)
PG_EXISTING = (
    f"SELECT {_M_COLUMNS} FROM messages AS m"
    " JOIN unnest($1::varchar[], $2::varchar[]) AS k(creator, cmid)"
    " ON m.creator_id = k.creator AND m.client_message_id = k.cmid"
)
PG_MEMBERS = (
    "SELECT m.room_id, m.user_id FROM memberships AS m"
    " JOIN unnest($1::varchar[], $2::varchar[]) AS k(room, usr)"
    " ON m.room_id = k.room AND m.user_id = k.usr"
)
PG_LOCK_ROOMS = "SELECT id FROM rooms WHERE id = ANY($1::varchar[]) ORDER BY id FOR UPDATE"
PG_ALLOCATE = (
    "UPDATE rooms AS r SET last_seq = r.last_seq + c.n, last_message_at = $3"
    " FROM unnest($1::varchar[], $2::int[]) AS c(id, n) WHERE r.id = c.id"
    " RETURNING r.id, r.last_seq"
)
PG_INSERT = (
    f"INSERT INTO messages ({', '.join(MESSAGE_FIELDS)})"
    " SELECT v.id, v.room, v.creator, v.content, v.cmid, $8::timestamptz, v.seq, v.mentions"
    " FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::text[], $5::varchar[],"
    " $6::int[], $7::text[]) AS v(id, room, creator, content, cmid, seq, mentions)"
)
PG_MARK_READ = (
    "UPDATE memberships AS m SET last_read_seq = v.seq"
    " FROM unnest($1::varchar[], $2::varchar[], $3::int[]) AS v(room, usr, seq)"
    " WHERE m.room_id = v.room AND m.user_id = v.usr AND m.last_read_seq < v.seq"
)
# An attachment goes to a message only if it is an unused upload of the sender to that room;
# the condition is re-checked under the row lock, so two messages never take the same one.
PG_CLAIM = (
    "UPDATE attachments SET message_id = $1, position = $2 WHERE id = $3"
    " AND room_id = $4 AND uploader_id = $5 AND message_id IS NULL RETURNING id"
)
PG_RELEASE = "UPDATE attachments SET message_id = NULL, position = 0 WHERE message_id = $1"

# Plain sqlite3 (positional parameters).
SQLITE_EXISTING = (
    f"SELECT {message_rows.COLUMNS_SQL} FROM messages"
    " WHERE creator_id = ? AND client_message_id = ?"
)
SQLITE_MEMBER = "SELECT 1 FROM memberships WHERE room_id = ? AND user_id = ?"
SQLITE_MARK_READ = (
    "UPDATE memberships SET last_read_seq = ?1"
    " WHERE room_id = ?2 AND user_id = ?3 AND last_read_seq < ?1"
)
SQLITE_INSERT = (
    f"INSERT INTO messages ({', '.join(MESSAGE_FIELDS)})"
    f" VALUES ({', '.join('?' * len(MESSAGE_FIELDS))})"
)
SQLITE_LAST_POSITION = "SELECT COALESCE(MAX(position), 0) FROM messages"
SQLITE_INDEX = (
    "INSERT INTO messages_fts(rowid, content) SELECT position, content FROM messages"
    " WHERE position > ?"
)
SQLITE_CLAIM = (
    "UPDATE attachments SET message_id = ?, position = ? WHERE id = ?"
    " AND room_id = ? AND uploader_id = ? AND message_id IS NULL"
)
SQLITE_RELEASE = "UPDATE attachments SET message_id = NULL, position = 0 WHERE message_id = ?"

# SQLite stores these columns the way SQLAlchemy's SQLite dialect does: UTC, no zone, as text.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_time(value: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite dialect writes it (so both write paths agree)."""
    return value.astimezone(UTC).strftime(_SQLITE_TIME)
