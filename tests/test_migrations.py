"""The hand-written migrations build exactly the models' schema, on SQLite and PostgreSQL.

"Exactly" is Alembic's autogenerate comparison (tables, columns, types, nullability,
indexes, unique constraints, foreign keys): after `upgrade`, it must find nothing to do.
PostgreSQL runs at 127.0.0.1:5432 (trust auth, user postgres); each run makes its own
database and drops it afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import app.models  # also registers the tables on SQLModel.metadata
from app.config import async_database_url
from app.db import SQLITE_BUSY_TIMEOUT_MS, Database, create_engine
from app.migrate import alembic_config, upgrade
from tests.support import scratch_postgres

TABLES = {
    "users",
    "sessions",
    "rooms",
    "memberships",
    "messages",
    "push_subscriptions",
    "vapid_keys",
    "boosts",
    "attachments",
    "server_secrets",
    "avatars",
    "account",
}


def _sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'campfire.sqlite3'}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return _sqlite_url(tmp_path)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with scratch_postgres("campfire_migrations") as url:
        yield url


def _inspect(url: str, look: Any) -> Any:
    """Run `look(sync_connection)` on a fresh engine for `url` (any accepted spelling)."""

    async def run() -> Any:
        engine = create_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": app.models.is_modelled}
    )
    return list(compare_metadata(context, SQLModel.metadata))


def _tables(connection: Connection) -> set[str]:
    names = inspect(connection).get_table_names()
    return {name for name in names if app.models.is_modelled(name, "table")}


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _head() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations must form one line, got heads {heads}"
    return heads[0]


def _check_round_trip(url: str) -> None:
    assert _inspect(url, _tables) == set()

    upgrade(url)
    assert _inspect(url, _tables) == TABLES | {"alembic_version"}
    assert _inspect(url, _revision) == _head()
    assert _inspect(url, _schema_diff) == []

    upgrade(url)  # a second run has nothing to do
    assert _inspect(url, _revision) == _head()

    command.downgrade(alembic_config(url), "base")
    assert _inspect(url, _tables) == {"alembic_version"}
    assert _inspect(url, _revision) is None

    upgrade(url)
    assert _inspect(url, _schema_diff) == []


def test_sqlite_upgrade_builds_the_models_schema(sqlite_url: str) -> None:
    _check_round_trip(sqlite_url)


def test_postgresql_upgrade_builds_the_models_schema(postgres_url: str) -> None:
    _check_round_trip(postgres_url)


@pytest.mark.parametrize(
    "spelling",
    ["sqlite:///{path}", "sqlite+aiosqlite:///{path}"],
    ids=["plain", "async-driver"],
)
def test_sqlite_url_spellings_migrate(tmp_path: Path, spelling: str) -> None:
    url = spelling.format(path=tmp_path / "db.sqlite3")
    upgrade(url)
    assert _inspect(url, _schema_diff) == []


@pytest.mark.parametrize("scheme", ["postgres", "postgresql+asyncpg"])
def test_postgresql_url_spellings_are_accepted(postgres_url: str, scheme: str) -> None:
    # Heroku's postgres:// and the async driver's form reach the same, migrated database.
    url = postgres_url.replace("postgresql", scheme, 1)
    upgrade(url)
    assert _inspect(url, _revision) == _head()


def test_the_diff_check_can_see_a_missing_index(sqlite_url: str) -> None:
    # Guard against a comparison that passes vacuously: break the schema and expect a diff.
    upgrade(sqlite_url)

    def drop_and_compare(connection: Connection) -> list[Any]:
        connection.execute(text("DROP INDEX ix_messages_id"))
        return _schema_diff(connection)

    diff = _inspect(sqlite_url, drop_and_compare)
    assert [entry[0] for entry in diff] == ["add_index"], diff


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path)
    await asyncio.to_thread(upgrade, url)
    db = Database(async_database_url(url))
    try:
        async with db.engine.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
            assert pragmas == {
                "journal_mode": "wal",
                "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                "foreign_keys": 1,
            }
            # Foreign keys are enforced, not only declared.
            with pytest.raises(IntegrityError):
                await connection.execute(
                    text(
                        "INSERT INTO memberships (room_id, user_id, created_at) "
                        "VALUES ('no-room', 'no-user', '2026-01-01 00:00:00')"
                    )
                )
    finally:
        await db.close()
