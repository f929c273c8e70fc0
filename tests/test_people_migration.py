"""The people migration upgrades a database that holds data, on SQLite and PostgreSQL.

The previous revision is read from the migration's own `down_revision`, so renumbering it
after a rebase needs no change here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.migrate import alembic_config, upgrade
from app.services.directs import direct_key
from tests.support import scratch_postgres
from tests.test_migrations import _inspect, _schema_diff

MIGRATION = next((Path(__file__).parent.parent / "migrations" / "versions").glob("*_people.py"))


def _previous_revision() -> str:
    spec = importlib.util.spec_from_file_location("people_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.down_revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'campfire.sqlite3'}"
    else:
        with scratch_postgres("campfire_people_migration") as postgres:
            yield postgres


USERS = ["00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"]
ROOMS = {
    "00000000-0000-4000-8000-000000000001": ("direct", datetime(2026, 1, 1)),
    "00000000-0000-4000-8000-000000000002": ("direct", datetime(2026, 1, 2)),  # same members
    "00000000-0000-4000-8000-000000000003": ("open", datetime(2026, 1, 3)),
}
CREATED = datetime(2026, 1, 1)


def _seed(connection: Connection) -> None:
    for user_id in USERS:
        connection.execute(
            text(
                "INSERT INTO users (id, name, email_address, password_hash, role, active,"
                " created_at) VALUES (:id, 'U', :email, 'x', 'member', true, :created)"
            ),
            {"id": user_id, "email": f"{user_id}@campfire.test", "created": CREATED},
        )
    for room_id, (kind, created) in ROOMS.items():
        connection.execute(
            text(
                "INSERT INTO rooms (id, name, kind, creator_id, created_at, last_seq)"
                " VALUES (:id, 'r', :kind, :creator, :created, 0)"
            ),
            {"id": room_id, "kind": kind, "creator": USERS[0], "created": created},
        )
        for user_id in USERS:
            connection.execute(
                text(
                    "INSERT INTO memberships (room_id, user_id, created_at)"
                    " VALUES (:room, :user, :created)"
                ),
                {"room": room_id, "user": user_id, "created": CREATED},
            )
    connection.commit()


def _read(connection: Connection) -> dict[str, Any]:
    rows = connection.execute(text("SELECT id, direct_key, auto_join FROM rooms")).all()
    users = connection.execute(text("SELECT id, avatar_key, bot_key_hash FROM users")).all()
    return {
        "rooms": {room_id: (key, bool(auto)) for room_id, key, auto in rows},
        "users": {user_id: (avatar, bot) for user_id, avatar, bot in users},
    }


def test_upgrade_keeps_data_and_keys_the_oldest_direct_room(url: str) -> None:
    command.upgrade(alembic_config(url), _previous_revision())
    _inspect(url, _seed)
    upgrade(url)
    state = _inspect(url, _read)
    ids = list(ROOMS)
    assert state["rooms"] == {
        ids[0]: (direct_key(USERS), False),
        ids[1]: (None, False),  # a duplicate made before the key existed keeps no key
        ids[2]: (None, False),
    }
    assert state["users"] == {user_id: (None, None) for user_id in USERS}
    assert _inspect(url, _schema_diff) == []
    command.downgrade(alembic_config(url), _previous_revision())
    upgrade(url)
    assert _inspect(url, _schema_diff) == []
