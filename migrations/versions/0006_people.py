"""Rooms and people: avatars, bots, auto-join rooms, direct-room keys, the join code.

Revision ID: 0006_people
Revises: 0005_attachments
Create Date: 2026-11-30
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0006_people"
down_revision: str | None = "0005_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _direct_key(member_ids: list[str]) -> str:
    # Must match app.services.directs.direct_key.
    return hashlib.sha256(",".join(sorted(set(member_ids))).encode()).hexdigest()


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch copy of `rooms` on SQLite would drop a
    # table that memberships and messages reference.
    op.add_column("users", sa.Column("avatar_key", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("bot_key_hash", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("webhook_url", sa.String(2000), nullable=True))
    op.create_index("ix_users_bot_key_hash", "users", ["bot_key_hash"], unique=True)
    op.add_column(
        "rooms", sa.Column("auto_join", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("rooms", sa.Column("direct_key", sa.String(64), nullable=True))
    op.create_index("ix_rooms_direct_key", "rooms", ["direct_key"], unique=True)
    op.create_table(
        "avatars",
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("join_code", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    _key_existing_direct_rooms()


def _key_existing_direct_rooms() -> None:
    """Give existing direct rooms their key; of duplicates (made before the key existed) the
    oldest keeps it, so that it is the one a new request for that member set answers."""
    connection = op.get_bind()
    rooms = connection.execute(
        sa.text("SELECT id FROM rooms WHERE kind = 'direct' ORDER BY created_at, id")
    ).all()
    taken: set[str] = set()
    for (room_id,) in rooms:
        members = connection.execute(
            sa.text("SELECT user_id FROM memberships WHERE room_id = :room"), {"room": room_id}
        ).all()
        key = _direct_key([user_id for (user_id,) in members])
        if key in taken:
            continue
        taken.add(key)
        connection.execute(
            sa.text("UPDATE rooms SET direct_key = :key WHERE id = :room"),
            {"key": key, "room": room_id},
        )


def downgrade() -> None:
    op.drop_table("account")
    op.drop_table("avatars")
    op.drop_index("ix_rooms_direct_key", table_name="rooms")
    op.drop_index("ix_users_bot_key_hash", table_name="users")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), for the reason given in upgrade.
    for table, column in (
        ("rooms", "direct_key"),
        ("rooms", "auto_join"),
        ("users", "webhook_url"),
        ("users", "bot_key_hash"),
        ("users", "avatar_key"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
