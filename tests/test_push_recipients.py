"""The push job's read of a batch's recipients (`app/services/push.py`): one statement when
nobody in the batch's rooms has a subscription, and the names only of rooms that have such
members. A real, migrated SQLite file."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app import models
from app.config import Settings
from app.db import Database, Query
from app.migrate import upgrade
from app.services.push import _recipients


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'push.sqlite3'}").database_url
    await asyncio.to_thread(upgrade, url)
    database = Database(url)
    yield database
    await database.close()


async def room_of(db: Database, name: str, *, subscribed: bool) -> tuple[str, str]:
    """A room named `name` whose one member follows everything; (room id, member id)."""
    async with db.session() as session:
        user = models.User(name=name, email_address=f"{uuid.uuid4().hex}@test", password_hash="x")
        session.add(user)
        await session.flush()
        room = models.Room(name=name, kind="closed", creator_id=user.id)
        session.add(room)
        await session.flush()
        session.add(models.Membership(room_id=room.id, user_id=user.id, involvement="everything"))
        if subscribed:
            endpoint = f"https://push.example/{uuid.uuid4().hex}"
            session.add(
                models.PushSubscription(user_id=user.id, endpoint=endpoint, p256dh="k", auth="a")
            )
        await session.commit()
        return room.id, user.id


async def recipients(db: Database, creators: dict[str, set[str]]) -> tuple[Any, list[str]]:
    statements: list[str] = []

    def read(query: Query) -> Any:
        def recorded(sql: str, params: Any) -> Any:
            statements.append(sql)
            return query(sql, params)

        return _recipients(recorded, creators)

    return await db.read(read), statements


async def test_a_batch_where_nobody_is_subscribed_costs_one_statement(db: Database) -> None:
    quiet, author = await room_of(db, "quiet", subscribed=False)
    (members, subscriptions, rooms, names), statements = await recipients(db, {quiet: {author}})
    assert (dict(members), dict(subscriptions), rooms, names) == ({}, {}, {}, {})
    assert len(statements) == 1


async def test_names_are_read_only_for_rooms_with_subscribed_members(db: Database) -> None:
    quiet, quiet_author = await room_of(db, "quiet", subscribed=False)
    busy, busy_member = await room_of(db, "busy", subscribed=True)
    creators = {quiet: {quiet_author}, busy: {busy_member}}
    (members, subscriptions, rooms, names), statements = await recipients(db, creators)
    assert dict(members) == {busy: {busy_member: "everything"}}
    assert [s.user_id for s in subscriptions[busy_member]] == [busy_member]
    assert rooms == {busy: ("busy", "closed")}
    assert names == {busy_member: "busy"}
    assert len(statements) == 3
