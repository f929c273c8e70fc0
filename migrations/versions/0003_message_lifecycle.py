"""Message lifecycle (PROTOCOL.md 9.1): edits, tombstones, boosts, mentions, per-room rev.

Revision ID: 0003_message_lifecycle
Revises: 0002_readstate
Create Date: 2026-11-30

Columns are added in place (ALTER TABLE ... ADD COLUMN with a default), so existing messages
keep their rows and become never-edited, never-changed messages (rev 0) with no mentions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0003_message_lifecycle"
down_revision: str | None = "0002_readstate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "rooms", sa.Column("last_rev", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column("messages", sa.Column("edited_at", UTCDateTime(), nullable=True))
    op.add_column(
        "messages",
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    op.add_column(
        "messages", sa.Column("rev", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column(
        "messages",
        sa.Column("mention_ids", sa.Text(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.create_index("ix_messages_room_rev", "messages", ["room_id", "rev"])
    op.create_table(
        "boosts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "message_id",
            sa.String(36),
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("content", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "message_id", "user_id", "content", name="uq_boosts_message_user_content"
        ),
    )
    op.create_index("ix_boosts_message_id", "boosts", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_boosts_message_id", table_name="boosts")
    op.drop_table("boosts")
    op.drop_index("ix_messages_room_rev", table_name="messages")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch rebuild of `rooms` would
    # drop a table that messages and memberships still reference.
    for column in ("mention_ids", "rev", "deleted", "edited_at"):
        op.drop_column("messages", column)
    op.drop_column("rooms", "last_rev")
