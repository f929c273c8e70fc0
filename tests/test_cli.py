"""The `campfire` command: `migrate`, `user create`, and `serve`'s first-run hint.

Each command runs as a real subprocess (`python -m app.cli`, what the `campfire` script
calls) on a real SQLite file or a PostgreSQL database of its own.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.support import (
    ADMIN_EMAIL,
    CAMPFIRE,
    PASSWORD,
    ROOT,
    ServerProcess,
    login,
    scratch_postgres,
)
from tests.test_migrations import _head

TABLES = {"alembic_version", "users", "sessions", "rooms", "memberships", "messages"}


def campfire(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPFIRE_")}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [*CAMPFIRE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def sqlite_rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


def test_migrate_creates_the_schema_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    result = campfire(f"sqlite:///{path}", "migrate")
    assert result.returncode == 0, result.stderr
    assert "database schema is up to date" in result.stderr
    tables = {row[0] for row in sqlite_rows(path, "SELECT name FROM sqlite_master")}
    assert TABLES <= tables
    assert sqlite_rows(path, "SELECT version_num FROM alembic_version") == [(_head(),)]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_postgres("campfire_cli") as url:
        yield url


async def _pg_fetch(url: str, query: str) -> list[tuple[object, ...]]:
    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(query)]
    finally:
        await connection.close()


def test_migrate_then_user_create_on_postgresql(postgres_url: str) -> None:
    # Before `migrate` (which only SQLite gets implicitly) the command says what to do.
    result = campfire(
        postgres_url, "user", "create", "--name", "Pat", "--email", "pat@campfire.test",
        "--password", PASSWORD,
    )  # fmt: skip
    assert result.returncode == 1
    assert "campfire migrate" in result.stderr and "Traceback" not in result.stderr

    result = campfire(postgres_url, "migrate")
    assert result.returncode == 0, result.stderr
    result = campfire(
        postgres_url, "user", "create", "--name", "Pat", "--email", "pat@campfire.test",
        "--password", PASSWORD, "--admin",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = asyncio.run(_pg_fetch(postgres_url, "SELECT name, email_address, role FROM users"))
    assert rows == [("Pat", "pat@campfire.test", "admin")]


def test_user_create_makes_admins_members_and_bots(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite3"
    url = f"sqlite:///{path}"  # not migrated: `user create` migrates SQLite itself
    for flag, email in [("--admin", "Ada@Campfire.test"), (None, "max@campfire.test")]:
        args = ["user", "create", "--name", " Ada ", "--email", email, "--password", PASSWORD]
        result = campfire(url, *args, *([flag] if flag else []))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("created "), result.stdout
    result = campfire(
        url, "user", "create", "--name", "Bot", "--email", "bot@campfire.test",
        "--password", PASSWORD, "--bot",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    rows = sqlite_rows(path, "SELECT name, email_address, role, password_hash FROM users")
    assert sorted(row[:3] for row in rows) == [
        ("Ada", "ada@campfire.test", "admin"),
        ("Ada", "max@campfire.test", "member"),
        ("Bot", "bot@campfire.test", "bot"),
    ]
    # Only an argon2 hash of the password is stored.
    assert all(str(row[3]).startswith("$argon2") and PASSWORD not in str(row[3]) for row in rows)


def test_user_create_refuses_bad_input_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "refusals.sqlite3"
    url = f"sqlite:///{path}"
    first = campfire(url, "user", "create", "--name", "Ada", "--email", "ada@campfire.test",
                     "--password", PASSWORD)  # fmt: skip
    assert first.returncode == 0, first.stderr
    for email, password, message in [
        ("ADA@campfire.test", PASSWORD, "already taken"),
        ("not-an-address", PASSWORD, "email_address"),
        ("new@campfire.test", "short", "password"),
    ]:
        result = campfire(
            url, "user", "create", "--name", "X", "--email", email, "--password", password
        )
        assert result.returncode == 1, (email, result.stderr)
        assert result.stderr.startswith("campfire: ") and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert sqlite_rows(path, "SELECT count(*) FROM users") == [(1,)]


def test_user_create_requires_its_options(tmp_path: Path) -> None:
    result = campfire(f"sqlite:///{tmp_path / 'x.sqlite3'}", "user", "create", "--name", "A")
    assert result.returncode == 2
    assert "--email" in result.stderr and "--password" in result.stderr


def test_first_run_explains_how_to_create_the_first_admin(tmp_path: Path) -> None:
    server = ServerProcess(workdir=tmp_path, env={})
    server.start()
    try:
        log = server.log_path.read_text()
    finally:
        assert server.stop() == 0
    assert "no users yet" in log
    assert "campfire user create --name" in log and "--admin" in log


async def test_no_hint_once_a_user_exists_and_the_cli_admin_can_log_in(
    server: ServerProcess,
) -> None:
    # The shared server's admin was made with `campfire user create --admin` before it started.
    assert "no users yet" not in server.log_path.read_text()
    async with aiohttp.ClientSession() as http:
        admin = await login(http, server.url, ADMIN_EMAIL)
        _, me = await admin.call("GET", "/api/me", expect=200)
    assert me["user"]["role"] == "admin" and me["user"]["email_address"] == ADMIN_EMAIL
