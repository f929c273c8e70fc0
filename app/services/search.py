"""Full-text search over the messages a user may read (PROTOCOL.md 9.5).

The index is kept in the writing transaction (see migrations/versions/0004_search.py): on
SQLite an FTS5 table, written once per send batch, with triggers for edits and deletes; on
PostgreSQL a GIN expression index. Both ignore case and accents (FTS5's unicode61 removes
diacritics; on PostgreSQL the text and the query go through `campfire_unaccent`, see
0007_search_unaccent.py). Here the user's query is parsed into terms, and each
database gets a query built only from word characters, so no input can reach either engine
as syntax: a query is either answered or refused with `invalid_message_format` (422), never
a database error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.db import Database, Query
from app.errors import invalid, not_found
from app.schemas import MessageOut
from app.services import message_rows
from app.services.auth import Principal
from app.services.rooms import RoomService

MAX_QUERY_LENGTH = 500
MAX_TERMS = 16
SEARCH_DEFAULT_LIMIT = 20
SEARCH_MAX_LIMIT = 100

# Runs of letters and digits: how SQLite's unicode61 tokenizer splits text, and how the
# PostgreSQL index splits it once punctuation is turned into spaces.
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Term:
    """One ANDed part of a query: a word, or a phrase of words in order; `prefix` makes the
    last word match any word that starts with it."""

    tokens: tuple[str, ...]
    prefix: bool = False


def parse_query(q: str) -> list[Term]:
    """`words ANDed`, `"a phrase"`, `prefix*`. Anything else is just text: quotes that never
    close run to the end, and operators of the engines (`NEAR`, `OR`, `-`, `:`) are words or
    separators. A query with no words at all gives no terms (and so no results)."""
    if not q.strip():
        raise invalid("q must not be empty")
    if len(q) > MAX_QUERY_LENGTH:
        raise invalid(f"q must be at most {MAX_QUERY_LENGTH} characters")
    terms: list[Term] = []
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        if q[i] == '"':
            end = q.find('"', i + 1)
            text = q[i + 1 :] if end < 0 else q[i + 1 : end]
            i = n if end < 0 else end + 1
            prefix = i < n and q[i] == "*"
            i += int(prefix)
        else:
            start = i
            while i < n and not q[i].isspace() and q[i] != '"':
                i += 1
            text = q[start:i]
            prefix = text.endswith("*")
        tokens = tuple(_TOKEN.findall(text))
        term = Term(tokens, prefix)
        if tokens and term not in terms:
            terms.append(term)
    return terms[:MAX_TERMS]


def fts5_query(terms: Sequence[Term]) -> str:
    """An FTS5 MATCH expression: every term a quoted string (never an operator)."""
    return " AND ".join(f'"{" ".join(t.tokens)}"' + (" *" if t.prefix else "") for t in terms)


def tsquery(terms: Sequence[Term]) -> str:
    """A `to_tsquery('simple', ...)` text: quoted lexemes, `<->` within a phrase, `&` between."""
    parts = []
    for term in terms:
        words = [f"'{token}'" for token in term.tokens]
        if term.prefix:
            words[-1] += ":*"
        parts.append(words[0] if len(words) == 1 else "(" + " <-> ".join(words) + ")")
    return " & ".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    message: MessageOut
    room: dict[str, Any]


# Readable rooms: the caller's, and every open room (PROTOCOL.md section 4: open rooms may be
# read by anyone signed in).
_READABLE = (
    "(m.room_id IN (SELECT room_id FROM memberships WHERE user_id = :user) OR r.kind = 'open')"
)
_MESSAGE_COLUMNS = ", ".join(f"m.{name}" for name in message_rows.COLUMNS)
_SQLITE_SEARCH = (
    f"SELECT {_MESSAGE_COLUMNS}, r.name, r.kind FROM messages_fts"
    " JOIN messages m ON m.position = messages_fts.rowid JOIN rooms r ON r.id = m.room_id"
    f" WHERE messages_fts MATCH :match AND {_READABLE}{{filters}}"
    " ORDER BY messages_fts.rowid DESC LIMIT :limit"
)
# The expression of the index (migrations 0004_search, 0007_search_unaccent), accents removed.
_POSTGRES_SEARCH = (
    f"SELECT {_MESSAGE_COLUMNS}, r.name, r.kind FROM messages m JOIN rooms r ON r.id = m.room_id"
    " WHERE to_tsvector('simple'::regconfig,"
    " regexp_replace(campfire_unaccent(m.content), '[[:punct:][:space:]]+', ' ', 'g'))"
    " @@ to_tsquery('simple'::regconfig, :match)"
    f" AND {_READABLE}{{filters}} ORDER BY m.position DESC LIMIT :limit"
)
_POSITION_OF = "SELECT position FROM messages WHERE id = :id"
_UNACCENT = "SELECT campfire_unaccent(:text)"


def unaccented(query: Query, terms: Sequence[Term]) -> list[Term]:
    """The terms with their accents removed by the database's own rules (those the index was
    built with), split into words again: `unaccent` may turn a letter into punctuation (an
    apostrophe, `1/2`), which must never reach `to_tsquery` as syntax. One round trip for all
    terms (they are joined by newlines, which unaccent keeps)."""
    text = "\n".join(" ".join(term.tokens) for term in terms)
    lines = str(query(_UNACCENT, {"text": text})[0][0]).split("\n")
    found: list[Term] = []
    for term, line in zip(terms, lines, strict=True):
        tokens = tuple(_TOKEN.findall(line))
        if tokens:
            found.append(Term(tokens, term.prefix))
    return found


class SearchService:
    def __init__(self, db: Database, rooms: RoomService) -> None:
        self._db = db
        self._rooms = rooms

    async def search(
        self,
        actor: Principal,
        q: str,
        *,
        room_id: str | None = None,
        limit: int = SEARCH_DEFAULT_LIMIT,
        before_id: str | None = None,
    ) -> list[Hit]:
        """Matching messages of the rooms `actor` may read, newest first."""
        if limit < 1:
            raise invalid("limit must be at least 1")
        limit = min(limit, SEARCH_MAX_LIMIT)
        terms = parse_query(q)
        if room_id is not None:
            await self._rooms.require_readable(actor, room_id)
        if not terms:
            return []
        sqlite = self._db.is_sqlite
        params: dict[str, Any] = {"user": actor.user_id, "limit": limit}
        if sqlite:
            params["match"] = fts5_query(terms)
        filters = ""
        if room_id is not None:
            filters += " AND m.room_id = :room"
            params["room"] = room_id
        sql = (_SQLITE_SEARCH if sqlite else _POSTGRES_SEARCH).format(
            filters=filters + (" AND m.position < :before" if before_id is not None else "")
        )

        def read(query: Query) -> list[Hit] | None:
            if before_id is not None:
                found = query(_POSITION_OF, {"id": before_id})
                if not found:
                    return None
                params["before"] = found[0][0]
            if not sqlite:
                plain = unaccented(query, terms)
                if not plain:
                    return []
                params["match"] = tsquery(plain)
            hits = [_hit(row) for row in query(sql, params)]
            message_rows.hydrate(query, [hit.message for hit in hits])
            return hits

        hits = await self._db.read(read)
        if hits is None:
            raise not_found("message")
        return hits


def _hit(row: Sequence[Any]) -> Hit:
    message = message_rows.from_row(row)
    name, kind = row[len(message_rows.COLUMNS)], row[len(message_rows.COLUMNS) + 1]
    return Hit(message, {"id": message.room_id, "name": name, "kind": kind})
