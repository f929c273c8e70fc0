"""One message's public shape from plain SQL rows, for every path that reads messages.

Hot paths (replay, history, the resend lookup) read messages with plain SQL (`Database.read`,
the SQLite writer thread); they all select `COLUMNS` and turn rows into `MessageOut` here, and
`hydrate` adds what lives beside the row. Only a message that was changed (rev > 0) can have
boosts, so a replay of never-changed messages costs no second query. The history page and the
replay skip the models altogether (`load_wire`, `hydrate_wire`): rows go straight to what
`wire` would make of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson
from pydantic_core import to_jsonable_python

from app.db import Query, in_list, utc
from app.schemas import AttachmentOut, BoostOut, MessageOut, wire

COLUMNS = (
    "id",
    "room_id",
    "creator_id",
    "content",
    "client_message_id",
    "created_at",
    "seq",
    "edited_at",
    "deleted",
    "rev",
    "mention_ids",
)
COLUMNS_SQL = ", ".join(COLUMNS)
NO_MENTIONS = "[]"
BOOST_COLUMNS = "id, message_id, user_id, content, created_at"
# Oldest first (PROTOCOL.md 9.1); the id only breaks exact ties, so the order is stable.
BOOSTS_OF = (
    f"SELECT {BOOST_COLUMNS} FROM boosts WHERE message_id IN {{ids}} ORDER BY created_at, id"
)
# IN lists stay below SQLite's and asyncpg's parameter limits.
CHUNK = 500


class Hydratable(Protocol):
    """What hydration reads and fills of a message: a `MessageOut`, or `_Shell`."""

    id: str
    room_id: str
    seq: int
    deleted: bool
    rev: int
    boosts: list[BoostOut]
    attachments: list[AttachmentOut]


H = TypeVar("H", bound=Hydratable)
# Functions that add more of a message's state (attachments, PROTOCOL.md 9.4) to messages just
# read; each gets the same query function, so it reads in the same hand-off or transaction.
Hydrator = Callable[[Query, list[Any]], None]
HYDRATORS: list[Hydrator] = []


def from_row(row: Sequence[Any]) -> MessageOut:
    """A row whose first columns are `COLUMNS` (more may follow; they are ignored)."""
    mid, room_id, creator_id, content, cmid, created_at, seq, edited_at, deleted, rev, mentions = (
        row[:11]
    )
    return MessageOut.model_construct(
        id=mid,
        room_id=room_id,
        creator_id=creator_id,
        content=content,
        client_message_id=cmid,
        created_at=utc(created_at),
        seq=seq,
        edited_at=utc(edited_at),
        deleted=bool(deleted),
        boosts=[],
        mention_ids=[] if not mentions or mentions == NO_MENTIONS else orjson.loads(mentions),
        attachments=[],
        rev=rev,
    )


def just_stored(row: dict[str, Any], mention_ids: Sequence[str]) -> MessageOut:
    """A message the batch just wrote from `row` (never edited, deleted or boosted yet).

    Every field is given: for a field left out, `model_construct` calls its default factory,
    and pydantic (2.14) first inspects the factory's signature, which for `list` parses its
    text signature with `ast` on every call: ~1 ms a message, most of the writer thread's time
    in the writes benchmark (bench/results/profiles/2026-11-30-writes-*-model-construct-*).
    """
    return MessageOut.model_construct(
        id=row["id"],
        room_id=row["room_id"],
        creator_id=row["creator_id"],
        content=row["content"],
        client_message_id=row["client_message_id"],
        created_at=row["created_at"],
        seq=row["seq"],
        edited_at=None,
        deleted=False,
        boosts=[],
        mention_ids=list(mention_ids),
        attachments=[],
        rev=0,
    )


def boost_from_row(row: Sequence[Any]) -> BoostOut:
    bid, message_id, user_id, content, created_at = row[:5]
    return BoostOut.model_construct(
        id=bid,
        message_id=message_id,
        user_id=user_id,
        content=content,
        created_at=utc(created_at),
    )


def hydrate(query: Query, messages: list[H]) -> list[H]:
    """Fill each message's boosts (and whatever HYDRATORS add), in place; returns `messages`."""
    changed = {m.id: m for m in messages if m.rev and not m.deleted}
    ids = list(changed)
    for start in range(0, len(ids), CHUNK):
        marks, params = in_list("m", ids[start : start + CHUNK])
        for row in query(BOOSTS_OF.format(ids=marks), params):
            changed[row[1]].boosts.append(boost_from_row(row))
    for hydrator in HYDRATORS:
        hydrator(query, messages)
    return messages


def load(query: Query, sql: str, params: dict[str, Any]) -> list[MessageOut]:
    """Messages from `sql` (which selects COLUMNS_SQL first), hydrated."""
    return hydrate(query, [from_row(row) for row in query(sql, params)])


def mentions_json(mention_ids: Sequence[str] | None) -> str:
    return orjson.dumps(list(mention_ids)).decode() if mention_ids else NO_MENTIONS


# ---- the wire form straight from rows (the history page, the replay) ----------------
# A pydantic model per message, built (`from_row`) and dumped (`wire`), was most of the page's
# CPU (py-spy, bench `http`, bench/results/profiles/): ~48 us a message against ~5 us for these
# dicts, which are what `wire(from_row(row))` gives, key for key and in the same order.


class _Shell:
    """A message's id and state for the hydrators, which fill its boosts and attachments."""

    __slots__ = ("attachments", "boosts", "deleted", "id", "rev", "room_id", "seq")

    def __init__(self, message: dict[str, Any]) -> None:
        self.id: str = message["id"]
        self.room_id: str = message["room_id"]
        self.seq: int = message["seq"]
        self.deleted: bool = message["deleted"]
        self.rev: int = message["rev"]
        self.boosts: list[BoostOut] = []
        self.attachments: list[AttachmentOut] = []


def wire_time(value: datetime | str | None) -> str | None:
    """A timestamp column as `wire` writes it: ISO 8601 in UTC with a Z, a fraction only when
    there are microseconds (pydantic's format)."""
    if isinstance(value, str) and len(value) == 26 and value[10] == " " and value[19] == ".":
        # SQLite's text as SQLAlchemy stores it, UTC: "2026-01-01 10:00:00.123456"
        clock = value[11:19] if value.endswith("000000") else value[11:]
        return f"{value[:10]}T{clock}Z"
    return None if value is None else to_jsonable_python(utc(value))


def wire_row(row: Sequence[Any]) -> dict[str, Any]:
    """`wire(from_row(row))`, without the model."""
    mid, room_id, creator_id, content, cmid, created_at, seq, edited_at, deleted, rev, mentions = (
        row[:11]
    )
    return {
        "id": mid,
        "room_id": room_id,
        "creator_id": creator_id,
        "content": content,
        "client_message_id": cmid,
        "created_at": wire_time(created_at),
        "seq": seq,
        "edited_at": wire_time(edited_at),
        "deleted": bool(deleted),
        "boosts": [],
        "mention_ids": [] if not mentions or mentions == NO_MENTIONS else orjson.loads(mentions),
        "attachments": [],
        "rev": rev,
    }


def load_wire(query: Query, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """`[wire(m) for m in load(query, sql, params)]`, for a page of many messages."""
    return hydrate_wire(query, query(sql, params))


def hydrate_wire(query: Query, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """`[wire(m) for m in hydrate(query, [from_row(r) for r in rows])]`, without the models."""
    out = [wire_row(row) for row in rows]
    shells = [_Shell(m) for m in out]
    hydrate(query, shells)
    for message, shell in zip(out, shells, strict=True):
        # Few messages have boosts or files; theirs go through their models.
        if shell.boosts:
            message["boosts"] = [wire(b) for b in shell.boosts]
        if shell.attachments:
            message["attachments"] = [wire(a) for a in shell.attachments]
    return out
