"""0007_search_unaccent: PostgreSQL search ignores accents like SQLite's. The migration upgrades a
database that already has messages (they are found without their accents at once), downgrades
and upgrades again; where the unaccent extension cannot be created, its fallback function
still removes the accents of Latin letters."""

from __future__ import annotations

import asyncio
from types import ModuleType

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.config import async_database_url
from app.db import Database
from app.migrate import alembic_config, upgrade
from tests.sql_support import execute, previous_revision, search_as, seed_room, url_fixture
from tests.support import scratch_postgres

REVISION = "0007_search_unaccent"
CONTENTS = ("Café crème brûlée", "cafe au lait", "Ærøskøbing straße", "NAÏVE résumé")
url = url_fixture("campfire_unaccent_migration")


def _migration() -> ModuleType:
    script = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(REVISION)
    assert script is not None
    return script.module


async def _search(db: Database, user_id: str, q: str) -> list[str]:
    return sorted(await search_as(db, user_id, q))


async def _seed(url: str) -> str:
    db = Database(async_database_url(url))
    try:
        user, _ = await seed_room(db, CONTENTS)
        if db.is_sqlite:
            # On SQLite the write path indexes new messages (app/services/message_store.py),
            # not a trigger: index these as it would have.
            await execute(db, "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    finally:
        await db.close()
    return user


async def _check(url: str, user: str) -> None:
    db = Database(async_database_url(url))
    cafes = ["Café crème brûlée", "cafe au lait"]
    try:
        for q in ("cafe", "café", "CAFÉ", "caf*", "cafè"):
            assert await _search(db, user, q) == cafes, q
        assert await _search(db, user, '"creme brulee"') == ["Café crème brûlée"]
        assert await _search(db, user, "crème brulée") == ["Café crème brûlée"]
        assert await _search(db, user, "naive resume") == ["NAÏVE résumé"]
        assert await _search(db, user, "résumé") == ["NAÏVE résumé"]
        # Letters unaccent turns into punctuation (U+02BC into an apostrophe) are never syntax.
        assert await _search(db, user, "d\u02bcArc \u00bd \u0149") == []
        # Edits are indexed without their accents too, in their own transaction.
        await execute(db, "UPDATE messages SET content = 'thé glacé' WHERE seq = 2")
        assert await _search(db, user, "the glace") == ["thé glacé"]
        assert await _search(db, user, "cafe") == ["Café crème brûlée"]
    finally:
        await db.close()


def test_upgrading_a_database_with_messages_makes_search_accent_blind(url: str) -> None:
    command.upgrade(alembic_config(url), previous_revision(REVISION))
    user = asyncio.run(_seed(url))
    upgrade(url)
    asyncio.run(_check(url, user))


def test_downgrades_and_upgrades_again(url: str) -> None:
    command.upgrade(alembic_config(url), previous_revision(REVISION))
    user = asyncio.run(_seed(url))
    upgrade(url)
    command.downgrade(alembic_config(url), previous_revision(REVISION))
    if url.startswith("postgresql"):
        asyncio.run(_check_old_index(url))
    upgrade(url)
    asyncio.run(_check(url, user))


async def _check_old_index(url: str) -> None:
    db = Database(async_database_url(url))
    try:
        found = await execute(
            db,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_messages_search'",
        )
        [definition] = found.scalars().all()
        assert "unaccent" not in definition
        functions = await execute(
            db, "SELECT count(*) FROM pg_proc WHERE proname = 'campfire_unaccent'"
        )
        assert functions.scalar() == 0
    finally:
        await db.close()


def test_without_the_extension_the_fallback_removes_latin_accents() -> None:
    """A server where CREATE EXTENSION fails (here: an extension that does not exist): the
    refusal is rolled back to its savepoint, the fallback function is made, and it serves as
    an immutable index expression."""
    migration = _migration()
    with scratch_postgres("campfire_unaccent_fallback") as url:
        asyncio.run(_fallback(url, migration))


async def _fallback(url: str, migration: ModuleType) -> None:
    db = Database(async_database_url(url))
    try:
        async with db.engine.begin() as connection:
            used = await connection.run_sync(
                lambda sync: migration.create_unaccent(sync, extension="campfire_no_such_ext")
            )
            assert used is False
            await connection.execute(text("CREATE TABLE notes (content text)"))
            await connection.execute(
                text(
                    "CREATE INDEX ix_notes ON notes USING gin (to_tsvector('simple'::regconfig,"
                    " campfire_unaccent(content)))"
                )
            )
            row = await connection.execute(
                text("SELECT campfire_unaccent(:t)"),
                {"t": "Crème Brûlée, Ærøskøbing, Straße, Łódź, naïve, 日本語"},
            )
            assert row.scalar() == "Creme Brulee, AEroskobing, Strasse, Lodz, naive, 日本語"
            volatility = await connection.execute(
                text("SELECT provolatile::text FROM pg_proc WHERE proname = 'campfire_unaccent'")
            )
            assert volatility.scalar() == "i"
    finally:
        await db.close()
