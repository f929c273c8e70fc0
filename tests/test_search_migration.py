"""The search migration indexes the messages stored before it, on SQLite and PostgreSQL; later
writes (insert, edit, delete) keep the index in step in their own transaction."""

from __future__ import annotations

import asyncio

from alembic import command

from app.config import async_database_url
from app.db import Database
from app.migrate import alembic_config, upgrade
from tests.sql_support import execute, previous_revision, search_as, seed_room, url_fixture

REVISION = "0004_search"
url = url_fixture("campfire_search_migration")


async def _seed(url: str) -> str:
    db = Database(async_database_url(url))
    try:
        user, _ = await seed_room(db, ["stored before search existed", "another old one"])
    finally:
        await db.close()
    return user


async def _check(url: str, user: str) -> None:
    db = Database(async_database_url(url))
    try:
        assert await search_as(db, user, "stored search") == ["stored before search existed"]
        assert await search_as(db, user, "old") == ["another old one"]
        await execute(db, "UPDATE messages SET content = 'renamed' WHERE seq = 2")
        assert await search_as(db, user, "old") == []
        assert await search_as(db, user, "renamed") == ["renamed"]
        await execute(db, "DELETE FROM messages WHERE seq = 1")
        assert await search_as(db, user, "stored") == []
    finally:
        await db.close()


def test_migration_indexes_existing_messages(url: str) -> None:
    command.upgrade(alembic_config(url), previous_revision(REVISION))
    user = asyncio.run(_seed(url))
    upgrade(url)
    asyncio.run(_check(url, user))


def test_migration_downgrades_and_upgrades_again(url: str) -> None:
    upgrade(url)
    command.downgrade(alembic_config(url), previous_revision(REVISION))
    upgrade(url)
