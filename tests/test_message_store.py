"""The group-committed message store (app/services/message_store.py) on a real database, SQLite
and PostgreSQL: what a batch answers for a message it just stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.config import async_database_url
from app.db import Database
from app.migrate import upgrade
from app.schemas import MessageOut
from app.services.message_store import MessageStore
from tests.support import new_id, scratch_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'campfire.sqlite3'}"
        return
    with scratch_postgres("campfire_message_store") as scratch:
        yield scratch


async def _execute(db: Database, sql: str, **params: Any) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def _seed(db: Database) -> tuple[str, str]:
    user, room, now = new_id(), new_id(), datetime(2026, 1, 1, tzinfo=UTC)
    await _execute(
        db,
        "INSERT INTO users (id, name, email_address, password_hash, role, active, created_at)"
        " VALUES (:id, 'A', 'a@campfire.test', 'x', 'member', true, :now)",
        id=user,
        now=now,
    )
    await _execute(
        db,
        "INSERT INTO rooms (id, name, kind, creator_id, created_at, last_seq)"
        " VALUES (:id, 'R', 'closed', :user, :now, 0)",
        id=room,
        user=user,
        now=now,
    )
    await _execute(
        db,
        "INSERT INTO memberships (room_id, user_id, created_at) VALUES (:room, :user, :now)",
        room=room,
        user=user,
        now=now,
    )
    return user, room


async def _write_batch(url: str) -> list[MessageOut]:
    db = Database(async_database_url(url))
    store = MessageStore(db)
    try:
        user, room = await _seed(db)
        # Sent together, so they share one batch (the writer takes what is queued).
        outcomes = await asyncio.gather(
            *(store.write(user, room, f"m{i}", new_id(), (user,) if i else ()) for i in range(3))
        )
    finally:
        await store.close()
        await db.close()
    assert [o.kind for o in outcomes] == ["stored"] * 3
    return [o.message for o in outcomes if o.message is not None]


def test_a_stored_message_is_answered_whole_with_every_field_given(url: str) -> None:
    """The batch gives every field of the message it answers with: a field left to
    `model_construct`'s default factory makes pydantic inspect the factory's signature per
    message, which was most of the writer's time (bench/results/profiles/writes-*)."""
    upgrade(url)
    messages = asyncio.run(_write_batch(url))
    assert [m.seq for m in messages] == [1, 2, 3]
    assert [m.content for m in messages] == ["m0", "m1", "m2"]
    assert messages[1].mention_ids == [messages[1].creator_id]
    for message in messages:
        assert message.model_fields_set == set(MessageOut.model_fields)
        assert (message.boosts, message.attachments, message.rev) == ([], [], 0)
        assert (message.edited_at, message.deleted) == (None, False)
