"""The statements of the group-committed message write (`message_store`), built once.

Constructing a SQLAlchemy statement costs more than running it on SQLite, so both dialects'
statements are module constants: SQLAlchemy Core for PostgreSQL (`message_batch_postgres`),
plain sqlite3 text for SQLite (`message_batch_sqlite`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, insert, select, text, update

from app import models
from app.services import message_rows

MESSAGES = models.Message.__table__  # type: ignore[attr-defined]
MEMBERSHIPS = models.Membership.__table__  # type: ignore[attr-defined]
ROOMS = models.Room.__table__  # type: ignore[attr-defined]
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

# SQLAlchemy Core (PostgreSQL and any other dialect).
ALLOCATE_SEQS = (
    update(ROOMS)
    .where(ROOMS.c.id == bindparam("room"))
    .values(last_seq=ROOMS.c.last_seq + bindparam("count"), last_message_at=bindparam("now"))
    .returning(ROOMS.c.last_seq)
)
INSERT_MESSAGES = insert(MESSAGES)
SELECT_MESSAGES = select(*(MESSAGES.c[name] for name in message_rows.COLUMNS))
SELECT_MEMBERSHIPS = select(MEMBERSHIPS.c.room_id, MEMBERSHIPS.c.user_id)
MARK_READ = (
    update(MEMBERSHIPS)
    .where(
        MEMBERSHIPS.c.room_id == bindparam("room"),
        MEMBERSHIPS.c.user_id == bindparam("user"),
        MEMBERSHIPS.c.last_read_seq < bindparam("seq"),
    )
    .values(last_read_seq=bindparam("seq"))
)
# An attachment goes to a message only if it is an unused upload of the sender to that room;
# the condition is re-checked under the row lock, so two messages never take the same one.
CLAIM_ATTACHMENT = text(
    "UPDATE attachments SET message_id = :message, position = :position WHERE id = :id"
    " AND room_id = :room AND uploader_id = :uploader AND message_id IS NULL"
)
RELEASE_ATTACHMENTS = text(
    "UPDATE attachments SET message_id = NULL, position = 0 WHERE message_id = :message"
)

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
