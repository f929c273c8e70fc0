"""Copies a seeded Campfire SQLite file into a migrated, empty PostgreSQL database, for the
`writes-pg` scenario (bench/scenarios_writes_pg.py): the same users, sessions (so the same
tokens sign in), rooms and memberships as the SQLite scenarios, without seeding through the API
again (two argon2 hashes per user). Every table of the app's models is copied in foreign-key
order through SQLAlchemy with the app's own column types (timestamps, booleans), then the
messages' `position` sequence is moved past the copied rows. Run with the project's virtualenv:

    .venv/bin/python bench/seed_postgres.py SQLITE_FILE POSTGRES_URL

Prints {"tables": {name: rows}} as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from app import models  # noqa: E402, F401  (registers the tables)
from app.config import async_database_url  # noqa: E402


async def copy(sqlite_file: str, postgres_url: str) -> dict[str, int]:
    source = create_engine(f"sqlite:///{sqlite_file}")
    target = create_async_engine(async_database_url(postgres_url))
    counts: dict[str, int] = {}
    try:
        async with target.begin() as pg:
            with source.connect() as lite:
                for table in SQLModel.metadata.sorted_tables:
                    rows = [dict(row._mapping) for row in lite.execute(select(table))]
                    counts[table.name] = len(rows)
                    if rows:
                        await pg.execute(table.insert(), rows)
            await pg.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('messages', 'position'),"
                    " COALESCE((SELECT MAX(position) FROM messages), 0) + 1, false)"
                )
            )
    finally:
        source.dispose()
        await target.dispose()
    return counts


def main() -> int:
    counts = asyncio.run(copy(sys.argv[1], sys.argv[2]))
    print(json.dumps({"tables": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
