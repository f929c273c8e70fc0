"""The read-state migration upgrades a database that holds data, on SQLite and PostgreSQL:
existing members start with everything read, direct rooms with involvement `everything`."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.migrate import PROJECT_ROOT, alembic_config, upgrade
from tests.support import scratch_postgres
from tests.test_migrations import _inspect

SCRIPT = next((PROJECT_ROOT / "migrations" / "versions").glob("*_readstate.py"))


def _previous_revision() -> str:
    spec = importlib.util.spec_from_file_location("readstate_migration", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.down_revision


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with scratch_postgres("campfire_readstate_migration") as url:
        yield url


NOW = datetime(2026, 11, 1, 10, tzinfo=UTC)
USERS = ("00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b")
OPEN, DIRECT = "00000000-0000-4000-8000-0000000000f1", "00000000-0000-4000-8000-0000000000f2"


def _seed(connection: Connection) -> None:
    for n, user in enumerate(USERS):
        connection.execute(
            text(
                "INSERT INTO users (id, name, email_address, password_hash, role, active,"
                " created_at) VALUES (:id, :name, :email, 'x', 'member', true, :now)"
            ),
            {"id": user, "name": f"u{n}", "email": f"u{n}@campfire.test", "now": NOW},
        )
    for room, kind, last_seq in ((OPEN, "open", 3), (DIRECT, "direct", 1)):
        connection.execute(
            text(
                "INSERT INTO rooms (id, name, kind, creator_id, created_at, last_seq)"
                " VALUES (:id, :kind, :kind, :creator, :now, :last_seq)"
            ),
            {"id": room, "kind": kind, "creator": USERS[0], "now": NOW, "last_seq": last_seq},
        )
        for user in USERS:
            connection.execute(
                text(
                    "INSERT INTO memberships (room_id, user_id, created_at)"
                    " VALUES (:room, :user, :now)"
                ),
                {"room": room, "user": user, "now": NOW},
            )
        for seq in range(1, last_seq + 1):
            connection.execute(
                text(
                    "INSERT INTO messages (id, room_id, creator_id, content, client_message_id,"
                    " created_at, seq) VALUES (:id, :room, :creator, 'hello', :cmid, :now, :seq)"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "room": room,
                    "creator": USERS[0],
                    "cmid": str(uuid.uuid4()),
                    "now": NOW,
                    "seq": seq,
                },
            )
    connection.commit()


def _memberships(connection: Connection) -> dict[tuple[str, str], tuple[int, str]]:
    rows = connection.execute(
        text("SELECT room_id, user_id, last_read_seq, involvement FROM memberships")
    )
    return {(room, user): (seq, involvement) for room, user, seq, involvement in rows}


def _check(url: str) -> None:
    command.upgrade(alembic_config(url), _previous_revision())
    _inspect(url, _seed)
    upgrade(url)
    found: Any = _inspect(url, _memberships)
    assert found == {
        (OPEN, USERS[0]): (3, "mentions"),
        (OPEN, USERS[1]): (3, "mentions"),
        (DIRECT, USERS[0]): (1, "everything"),
        (DIRECT, USERS[1]): (1, "everything"),
    }
    counts = _inspect(
        url,
        lambda c: c.execute(
            text("SELECT COUNT(*) FROM push_subscriptions, vapid_keys")
        ).scalar_one(),
    )
    assert counts == 0
    # And back down: the columns go, the data stays.
    command.downgrade(alembic_config(url), _previous_revision())
    rows = _inspect(url, lambda c: c.execute(text("SELECT COUNT(*) FROM memberships")).scalar())
    assert rows == 4


def test_sqlite_upgrade_with_data(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'campfire.sqlite3'}")


def test_postgresql_upgrade_with_data(postgres_url: str) -> None:
    _check(postgres_url)
