"""Read state and involvement per membership; Web Push subscriptions and the VAPID key pair.

Revision ID: 0002_readstate
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0002_readstate"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(
            sa.Column("last_read_seq", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column(
                "involvement", sa.String(16), nullable=False, server_default="mentions"
            )
        )
    # Before read state existed nothing was tracked: count what is already there as read,
    # rather than greet every member with the whole history unread.
    op.execute(
        "UPDATE memberships SET last_read_seq ="
        " (SELECT rooms.last_seq FROM rooms WHERE rooms.id = memberships.room_id)"
    )
    # Direct rooms default to everything (PROTOCOL.md section 9.2).
    op.execute(
        "UPDATE memberships SET involvement = 'everything' WHERE room_id IN"
        " (SELECT id FROM rooms WHERE kind = 'direct')"
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("endpoint", sa.String(2000), nullable=False, unique=True),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])
    op.create_table(
        "vapid_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("private_key", sa.String(100), nullable=False),
        sa.Column("public_key", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("vapid_keys")
    op.drop_index("ix_push_subscriptions_user_id", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("involvement")
        batch.drop_column("last_read_seq")
