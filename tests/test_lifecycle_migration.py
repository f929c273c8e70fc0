"""The message-lifecycle migration upgrades a database that holds messages, losing none.

The database is brought to the revision before this migration (read from the script, not
hard-coded), filled with that moment's schema, upgraded to head, and then read and changed
through the domain layer. SQLite and PostgreSQL (127.0.0.1:5432, a scratch database).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app import models
from app.config import Settings, async_database_url
from app.db import Database, create_engine
from app.migrate import alembic_config, upgrade
from app.notifier import NullNotifier
from app.schemas import UserOut
from app.services import Principal, Services
from app.state import MemoryState
from tests.support import scratch_postgres

SUFFIX = "_message_lifecycle.py"
USER, ROOM = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def _previous_revision(url: str) -> str:
    script = ScriptDirectory.from_config(alembic_config(url))
    [ours] = [r for r in script.walk_revisions() if (r.path or "").endswith(SUFFIX)]
    assert isinstance(ours.down_revision, str)
    return ours.down_revision


async def _fill(url: str) -> None:
    engine = create_engine(async_database_url(url))
    stamp = "2026-11-01 10:00:00"
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, name, email_address, password_hash, role, active,"
                    " created_at) VALUES (:id, 'Old', 'old@campfire.test', 'x', 'member', true,"
                    " :at)"
                ),
                {"id": USER, "at": _time(url, stamp)},
            )
            await connection.execute(
                text(
                    "INSERT INTO rooms (id, name, kind, creator_id, created_at, last_seq)"
                    " VALUES (:id, 'old room', 'closed', :user, :at, 3)"
                ),
                {"id": ROOM, "user": USER, "at": _time(url, stamp)},
            )
            await connection.execute(
                text(
                    "INSERT INTO memberships (room_id, user_id, created_at)"
                    " VALUES (:room, :user, :at)"
                ),
                {"room": ROOM, "user": USER, "at": _time(url, stamp)},
            )
            for seq in (1, 2, 3):
                await connection.execute(
                    text(
                        "INSERT INTO messages (id, room_id, creator_id, content,"
                        " client_message_id, created_at, seq) VALUES (:id, :room, :user,"
                        " :content, :cmid, :at, :seq)"
                    ),
                    {
                        "id": f"3333333{seq}-3333-4333-8333-333333333333",
                        "room": ROOM,
                        "user": USER,
                        "content": f"old message {seq}",
                        "cmid": f"4444444{seq}-4444-4444-8444-444444444444",
                        "at": _time(url, stamp),
                        "seq": seq,
                    },
                )
    finally:
        await engine.dispose()


def _time(url: str, stamp: str) -> object:
    value = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    return stamp if url.startswith("sqlite") else value


async def _check(url: str) -> None:
    settings = Settings(DATABASE_URL=url)
    db = Database(settings.database_url)
    services = Services.build(settings, db, MemoryState(), NullNotifier())
    try:
        async with db.session() as session:
            user = await session.get(models.User, USER)
            assert user is not None
        actor = Principal(user=UserOut.of(user), session_id="s")
        messages = await services.messages.history(actor, ROOM)
        # (history answers wire dicts: the history page's form)
        assert [m["content"] for m in messages] == [f"old message {s}" for s in (1, 2, 3)]
        assert all(
            m["rev"] == 0 and not m["deleted"] and m["edited_at"] is None and m["mention_ids"] == []
            for m in messages
        )
        # The old messages take part in the lifecycle: the room's revs start at 1.
        edit = await services.lifecycle.edit(actor, messages[0]["id"], "edited old", [USER])
        boost = await services.lifecycle.add_boost(actor, messages[1]["id"], "👍")
        gone = await services.lifecycle.delete(actor, messages[2]["id"])
        assert [edit.message.rev, boost.message.rev, gone.message.rev] == [1, 2, 3]
        assert edit.message.mention_ids == [USER]
        new = await services.messages.send(actor, ROOM, "new", via="test")
        assert new.message.seq == 4
        assert [m["rev"] for m in await services.messages.history(actor, ROOM)] == [1, 2, 3, 0]
    finally:
        await services.close()
        await db.close()


def _migrate_with_data(url: str) -> None:
    command.upgrade(alembic_config(url), _previous_revision(url))
    asyncio.run(_fill(url))
    upgrade(url)
    asyncio.run(_check(url))


def test_sqlite_upgrade_keeps_messages(tmp_path: Path) -> None:
    _migrate_with_data(f"sqlite:///{tmp_path / 'campfire.sqlite3'}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_postgres("campfire_lifecycle_migration") as url:
        yield url


def test_postgresql_upgrade_keeps_messages(postgres_url: str) -> None:
    _migrate_with_data(postgres_url)
