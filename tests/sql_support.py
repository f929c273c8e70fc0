"""Plain-SQL set-up for tests that work below the services (migrations, the message store): a
database URL fixture over SQLite and PostgreSQL, and rows written as an older version would
have written them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.db import Database
from app.migrate import alembic_config
from tests.support import new_id, scratch_postgres

OLD_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def url_fixture(database_name: str) -> Any:
    """A module's `url` fixture: a fresh SQLite file, then a scratch PostgreSQL database."""

    @pytest.fixture(params=["sqlite", "postgresql"], name="url")
    def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
        if request.param == "sqlite":
            yield f"sqlite:///{tmp_path / 'campfire.sqlite3'}"
            return
        with scratch_postgres(database_name) as scratch:
            yield scratch

    return url


def previous_revision(revision: str) -> str:
    """The revision a migration upgrades from."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision


async def execute(db: Database, sql: str, **params: Any) -> Any:
    async with db.engine.begin() as connection:
        return await connection.execute(text(sql), params)


async def seed_room(db: Database, contents: Iterable[str] = ()) -> tuple[str, str]:
    """A user, a closed room they are a member of, and `contents` as its messages 1..N, with
    the columns every schema version has. Returns (user id, room id)."""
    messages = list(contents)
    user, room = new_id(), new_id()
    await execute(
        db,
        "INSERT INTO users (id, name, email_address, password_hash, role, active, created_at)"
        " VALUES (:id, 'Old', 'old@campfire.test', 'x', 'member', true, :now)",
        id=user,
        now=OLD_TIME,
    )
    await execute(
        db,
        "INSERT INTO rooms (id, name, kind, creator_id, created_at, last_seq)"
        " VALUES (:id, 'Old room', 'closed', :user, :now, :last)",
        id=room,
        user=user,
        now=OLD_TIME,
        last=len(messages),
    )
    await execute(
        db,
        "INSERT INTO memberships (room_id, user_id, created_at) VALUES (:room, :user, :now)",
        room=room,
        user=user,
        now=OLD_TIME,
    )
    for seq, content in enumerate(messages, 1):
        await execute(
            db,
            "INSERT INTO messages (id, room_id, creator_id, content, client_message_id,"
            " created_at, seq) VALUES (:id, :room, :user, :content, :cmid, :now, :seq)",
            id=new_id(),
            room=room,
            user=user,
            content=content,
            cmid=new_id(),
            now=OLD_TIME,
            seq=seq,
        )
    return user, room


class _AnyRoom:
    """What SearchService asks of the room service here: nothing (no room filter is given)."""


async def search_as(db: Database, user_id: str, q: str) -> list[str]:
    """The contents of the messages `user_id` finds for `q`, best first."""
    from app.schemas import UserOut
    from app.services.auth import Principal
    from app.services.search import SearchService

    actor = Principal(user=UserOut(id=user_id, name="A", role="member"), session_id=new_id())
    hits = await SearchService(db, _AnyRoom()).search(actor, q)  # type: ignore[arg-type]
    return [hit.message.content for hit in hits]
