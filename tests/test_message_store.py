"""The group-committed message store (app/services/message_store.py) on a real database, SQLite
and PostgreSQL: what a batch answers for a message it just stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.config import async_database_url
from app.db import Database
from app.migrate import upgrade
from app.schemas import MessageOut
from app.services.message_store import MessageStore
from tests.support import new_id, scratch_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'campfire.sqlite3'}"
        return
    with scratch_postgres("campfire_message_store") as scratch:
        yield scratch


async def _execute(db: Database, sql: str, **params: Any) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def _seed(db: Database) -> tuple[str, str]:
    user, room, now = new_id(), new_id(), datetime(2026, 1, 1, tzinfo=UTC)
    await _execute(
        db,
        "INSERT INTO users (id, name, email_address, password_hash, role, active, created_at)"
        " VALUES (:id, 'A', 'a@campfire.test', 'x', 'member', true, :now)",
        id=user,
        now=now,
    )
    await _execute(
        db,
        "INSERT INTO rooms (id, name, kind, creator_id, created_at, last_seq)"
        " VALUES (:id, 'R', 'closed', :user, :now, 0)",
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
    return user, room


async def _write_batch(url: str) -> list[MessageOut]:
    db = Database(async_database_url(url))
    store = MessageStore(db)
    try:
        user, room = await _seed(db)
        # Sent together, so they share one batch (the writer takes what is queued).
        outcomes = await asyncio.gather(
            *(store.write(user, room, f"m{i}", new_id(), (user,) if i else ()) for i in range(3))
        )
    finally:
        await store.close()
        await db.close()
    assert [o.kind for o in outcomes] == ["stored"] * 3
    return [o.message for o in outcomes if o.message is not None]


def test_a_stored_message_is_answered_whole_with_every_field_given(url: str) -> None:
    """The batch gives every field of the message it answers with: a field left to
    `model_construct`'s default factory makes pydantic inspect the factory's signature per
    message, which was most of the writer's time
    (bench/results/profiles/2026-11-30-writes-*-model-construct-*)."""
    upgrade(url)
    messages = asyncio.run(_write_batch(url))
    assert [m.seq for m in messages] == [1, 2, 3]
    assert [m.content for m in messages] == ["m0", "m1", "m2"]
    assert messages[1].mention_ids == [messages[1].creator_id]
    for message in messages:
        assert message.model_fields_set == set(MessageOut.model_fields)
        assert (message.boosts, message.attachments, message.rev) == ([], [], 0)
        assert (message.edited_at, message.deleted) == (None, False)


async def _resend_and_refusals(url: str) -> None:
    db = Database(async_database_url(url))
    store = MessageStore(db)
    try:
        user, room = await _seed(db)
        stranger = new_id()
        await _execute(
            db,
            "INSERT INTO users (id, name, email_address, password_hash, role, active, created_at)"
            " VALUES (:id, 'S', 's@campfire.test', 'x', 'member', true, :now)",
            id=stranger,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
        cmids = [new_id() for _ in range(4)]
        first = await asyncio.gather(*(store.write(user, room, c, c) for c in cmids))
        # One batch: resends of stored ones (and one twice), a new one, a stranger, a mention
        # of the stranger.
        again = await asyncio.gather(
            store.write(user, room, cmids[2], cmids[2]),
            store.write(user, room, "new", "fresh-cmid"),
            store.write(user, room, cmids[0], cmids[0]),
            store.write(user, room, "new", "fresh-cmid"),
            store.write(stranger, room, "x", new_id()),
            store.write(user, room, "y", new_id(), (stranger,)),
        )
        async with db.engine.connect() as connection:
            read = await connection.execute(
                text("SELECT last_read_seq FROM memberships WHERE user_id = :u"), {"u": user}
            )
            last_read = read.scalar()
    finally:
        await store.close()
        await db.close()
    assert [o.kind for o in first] == ["stored"] * 4
    assert [o.kind for o in again] == [
        "existing",
        "stored",
        "existing",
        "existing",
        "not_member",
        "bad_mentions",
    ]
    ids = [o.message.id if o.message else None for o in again]
    assert ids[0] == first[2].message.id and ids[2] == first[0].message.id  # type: ignore[union-attr]
    assert ids[3] == ids[1] and again[1].message.seq == 5  # type: ignore[union-attr]
    assert last_read == 5  # sending marks the room read up to the sender's last message


def test_resends_are_found_and_strangers_refused_within_one_batch(url: str) -> None:
    upgrade(url)
    asyncio.run(_resend_and_refusals(url))


async def _two_writers_on_shared_rooms(url: str, rounds: int) -> None:
    # Two Databases: two connection pools, as two web processes have.
    first, second = Database(async_database_url(url)), Database(async_database_url(url))
    stores = [MessageStore(first), MessageStore(second)]
    try:
        user, room = await _seed(first)
        rooms = [room]
        for _ in range(3):
            rooms.append(new_id())
            await _execute(
                first,
                "INSERT INTO rooms (id, name, kind, creator_id, created_at, last_seq)"
                " VALUES (:id, 'R', 'closed', :user, :now, 0)",
                id=rooms[-1],
                user=user,
                now=datetime(2026, 1, 1, tzinfo=UTC),
            )
            await _execute(
                first,
                "INSERT INTO memberships (room_id, user_id, created_at)"
                " VALUES (:room, :user, :now)",
                room=rooms[-1],
                user=user,
                now=datetime(2026, 1, 1, tzinfo=UTC),
            )
        for i in range(rounds):
            # Each store's writes of a round are one batch over all four rooms, the two
            # stores' drafts in opposite room orders, both batches in flight at once; and
            # both send one message under the same client_message_id.
            shared = new_id()
            outcomes = await asyncio.gather(
                *(stores[0].write(user, r, f"a{i}", new_id()) for r in rooms),
                *(stores[1].write(user, r, f"b{i}", new_id()) for r in reversed(rooms)),
                stores[0].write(user, rooms[i % 4], "dup", shared),
                stores[1].write(user, rooms[i % 4], "dup", shared),
            )
            assert [o.kind for o in outcomes[:8]] == ["stored"] * 8, outcomes
            twice = outcomes[8:]
            assert sorted(o.kind for o in twice) == ["existing", "stored"], twice
            assert twice[0].message.id == twice[1].message.id  # type: ignore[union-attr]
        async with first.engine.connect() as connection:
            for r in rooms:
                seqs = await connection.execute(
                    text("SELECT seq FROM messages WHERE room_id = :r ORDER BY seq"), {"r": r}
                )
                found = [row[0] for row in seqs]
                last = await connection.execute(
                    text("SELECT last_seq FROM rooms WHERE id = :r"), {"r": r}
                )
                read = await connection.execute(
                    text("SELECT last_read_seq FROM memberships WHERE room_id = :r"), {"r": r}
                )
                assert found == list(range(1, len(found) + 1)) == list(range(1, last.scalar() + 1))
                assert read.scalar() == len(found)
                assert len(found) == 2 * rounds + rounds // 4
    finally:
        for store in stores:
            await store.close()
        await first.close()
        await second.close()


def test_two_processes_batches_over_the_same_rooms_keep_seqs_gapless_without_deadlock() -> None:
    """Two pools (two processes' worth) commit batches over the same four rooms at once, in
    opposite orders: every message stored (a deadlock would fail a batch after PostgreSQL's
    deadlock_timeout), each room's seqs exactly 1..last_seq, the read marks at the top, and
    one client_message_id sent through both stores at once stored once."""
    with scratch_postgres("campfire_message_store_two") as url:
        upgrade(url)
        asyncio.run(_two_writers_on_shared_rooms(url, rounds=24))


async def _attachments(url: str) -> None:
    db = Database(async_database_url(url))
    store = MessageStore(db)
    try:
        user, room = await _seed(db)
        files = [new_id() for _ in range(3)]
        for attachment_id in files:
            await _execute(
                db,
                "INSERT INTO attachments (id, room_id, uploader_id, position, filename,"
                " content_type, byte_size, thumbnail_state, created_at)"
                " VALUES (:id, :room, :user, 0, 'f.txt', 'text/plain', 1, 'none', :now)",
                id=attachment_id,
                room=room,
                user=user,
                now=datetime(2026, 1, 1, tzinfo=UTC),
            )
        first = await store.write(user, room, "", new_id(), (), (files[0], files[1]))
        # One batch: the first file again (taken), then a free one beside a taken one.
        again, mixed = await asyncio.gather(
            store.write(user, room, "", new_id(), (), (files[0],)),
            store.write(user, room, "", new_id(), (), (files[2], files[1])),
        )
        async with db.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT id, message_id, position FROM attachments"), {}
            )
            owners = {row[0]: (row[1], row[2]) for row in rows}
            seqs = await connection.execute(text("SELECT seq FROM messages"), {})
            stored = [row[0] for row in seqs]
    finally:
        await store.close()
        await db.close()
    assert first.kind == "stored" and first.message is not None
    assert (again.kind, mixed.kind) == ("bad_attachments", "bad_attachments")
    assert owners[files[0]] == (first.message.id, 0)
    assert owners[files[1]] == (first.message.id, 1)
    assert owners[files[2]] == (None, 0)  # claimed, then given back with the batch's refusal
    assert stored == [1]  # refused messages take no seq


def test_attachments_are_claimed_all_or_none(url: str) -> None:
    upgrade(url)
    asyncio.run(_attachments(url))
