"""The search migration indexes the messages stored before it, on SQLite and PostgreSQL; later
writes (insert, edit, delete) keep the index in step in their own transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.config import async_database_url
from app.db import Database
from app.migrate import alembic_config, upgrade
from app.schemas import UserOut
from app.services.auth import Principal
from app.services.search import SearchService
from tests.support import new_id, scratch_postgres

REVISION = "0004_search"


def _previous() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(REVISION)
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'campfire.sqlite3'}"
        return
    with scratch_postgres("campfire_search_migration") as scratch:
        yield scratch


class _Rooms:
    """What SearchService asks of the room service here: nothing (no room filter)."""


async def _search(db: Database, user_id: str, q: str) -> list[str]:
    actor = Principal(user=UserOut(id=user_id, name="A", role="member"), session_id=new_id())
    hits = await SearchService(db, _Rooms()).search(actor, q)  # type: ignore[arg-type]
    return [hit.message.content for hit in hits]


async def _execute(db: Database, sql: str, **params: Any) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def _check(url: str) -> None:
    db = Database(async_database_url(url))
    user, room, now = new_id(), new_id(), datetime(2026, 1, 1, tzinfo=UTC)
    try:
        await _execute(
            db,
            "INSERT INTO users (id, name, email_address, password_hash, role, active, created_at)"
            " VALUES (:id, 'Old', 'old@campfire.test', 'x', 'member', true, :now)",
            id=user,
            now=now,
        )
        await _execute(
            db,
            "INSERT INTO rooms (id, name, kind, creator_id, created_at, last_seq)"
            " VALUES (:id, 'Old room', 'closed', :user, :now, 2)",
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
        for seq, content in ((1, "stored before search existed"), (2, "another old one")):
            await _execute(
                db,
                "INSERT INTO messages (id, room_id, creator_id, content, client_message_id,"
                " created_at, seq) VALUES (:id, :room, :user, :content, :cmid, :now, :seq)",
                id=new_id(),
                room=room,
                user=user,
                content=content,
                cmid=new_id(),
                now=now,
                seq=seq,
            )
    finally:
        await db.close()

    await asyncio.to_thread(upgrade, url)

    db = Database(async_database_url(url))
    try:
        assert await _search(db, user, "stored search") == ["stored before search existed"]
        assert await _search(db, user, "old") == ["another old one"]
        await _execute(db, "UPDATE messages SET content = 'renamed' WHERE seq = 2")
        assert await _search(db, user, "old") == []
        assert await _search(db, user, "renamed") == ["renamed"]
        await _execute(db, "DELETE FROM messages WHERE seq = 1")
        assert await _search(db, user, "stored") == []
    finally:
        await db.close()


def test_migration_indexes_existing_messages(url: str) -> None:
    command.upgrade(alembic_config(url), _previous())
    asyncio.run(_check(url))


def test_migration_downgrades_and_upgrades_again(url: str) -> None:
    upgrade(url)
    command.downgrade(alembic_config(url), _previous())
    upgrade(url)
