"""Full-text search over messages (PROTOCOL.md 9.5), with the existing messages indexed.

SQLite: an FTS5 table over `messages.content` (external content, keyed by `position`). New
messages are indexed by the group-committed write path (app/services/message_store.py), one
statement per batch in the batch's transaction: FTS5 flushes its pending terms at the end of
every statement, so a per-row insert trigger would write an index segment per message (it
cost about a third of the write throughput). Edits, tombstones and deletes are rarer and come
from several paths, so triggers keep those in step, in the same transaction. PostgreSQL: a GIN index on the same text with punctuation
turned into spaces (so both databases split words alike), which PostgreSQL maintains itself.
Building either indexes the messages already stored.

Revision ID: 0004_search
Revises: 0003_message_lifecycle
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_search"
down_revision: str | None = "0003_message_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages',"
    " content_rowid='position', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.position, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.position, old.content);"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.position, new.content); END",
    # The backfill: index every message already stored.
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TABLE IF EXISTS messages_fts",
)
POSTGRES_UP = (
    "CREATE INDEX ix_messages_search ON messages USING gin (to_tsvector('simple'::regconfig,"
    " regexp_replace(content, '[[:punct:][:space:]]+', ' ', 'g')))",
)
POSTGRES_DOWN = ("DROP INDEX IF EXISTS ix_messages_search",)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UP if sqlite else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else POSTGRES_DOWN:
        op.execute(statement)
