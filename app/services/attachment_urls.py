"""Where attachments live and how they are named to clients (PROTOCOL.md 9.4): storage keys,
signed expiring URLs, and the `attachments` of messages as every read path hydrates them.

Files are stored under `rooms/<room id>/<attachment id>/{original,thumbnail}`, so a room's
files can be removed by prefix even after its rows are gone. A URL is signed with an HMAC key
made once and kept in `server_secrets`, so every process of a deployment signs alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import models
from app.db import Database, Query, in_list
from app.models import utcnow
from app.schemas import AttachmentOut
from app.services import message_rows

Variant = Literal["original", "thumbnail"]
SECRET_NAME = "attachment_url_key"


@dataclass(frozen=True, slots=True)
class Servable:
    """A file to send: its key in storage and how to label it."""

    key: str
    content_type: str
    filename: str
    inline: bool
    expires: int | None  # when the signed URL used for it stops working


def storage_key(room_id: str, attachment_id: str, variant: Variant) -> str:
    return f"rooms/{room_id}/{attachment_id}/{variant}"


def room_prefix(room_id: str) -> str:
    return f"rooms/{room_id}/"


class UrlSigner:
    """Signs and checks attachment URLs with the deployment's key (read or made on first use)."""

    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self._db = db
        self._key: bytes | None = None
        self.ttl = max(1, int(ttl_seconds))
        _URL_TTL[0] = self.ttl

    async def key(self) -> bytes:
        if self._key is None:
            self._key = await self._load_or_create_key()
        return self._key

    async def describe(self, row: dict[str, Any]) -> AttachmentOut:
        return describe_row(row, await self.key(), self.ttl)

    async def check(
        self, attachment_id: str, variant: Variant, expires: str | None, signature: str | None
    ) -> int | None:
        """The expiry of a valid, unexpired signature for this file; None otherwise."""
        if expires is None or signature is None or not expires.isdigit() or len(expires) > 12:
            return None
        if int(expires) < time.time():
            return None
        expected = _signature(await self.key(), attachment_id, variant, int(expires))
        if not hmac.compare_digest(expected, signature.encode("ascii", "replace")):
            return None
        return int(expires)

    async def _load_or_create_key(self) -> bytes:
        secret = models.ServerSecret.__table__  # type: ignore[attr-defined]
        query = select(secret.c.value).where(secret.c.name == SECRET_NAME)
        for _ in range(2):
            async with self._db.engine.begin() as connection:
                value = (await connection.execute(query)).scalar()
                if value is not None:
                    return base64.urlsafe_b64decode(value)
            try:
                async with self._db.engine.begin() as connection:
                    await connection.execute(
                        secret.insert().values(
                            name=SECRET_NAME,
                            value=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                            created_at=utcnow(),
                        )
                    )
            except IntegrityError:
                pass  # another process made it first: read theirs
        raise RuntimeError("could not load the URL signing key")


def _signature(key: bytes, attachment_id: str, variant: str, expires: int) -> bytes:
    mac = hmac.new(key, f"{attachment_id}/{variant}/{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")


def _signed_url(key: bytes, attachment_id: str, variant: Variant, expires: int) -> str:
    signature = _signature(key, attachment_id, variant, expires).decode()
    return f"/api/attachments/{attachment_id}/{variant}?expires={expires}&signature={signature}"


def describe_row(row: dict[str, Any], key: bytes, ttl: int) -> AttachmentOut:
    expires = int(time.time()) + ttl
    done = row["thumbnail_state"] == "done"
    return AttachmentOut(
        id=row["id"],
        filename=row["filename"],
        content_type=row["content_type"],
        byte_size=row["byte_size"],
        width=row["width"],
        height=row["height"],
        url=_signed_url(key, row["id"], "original", expires),
        thumbnail_url=_signed_url(key, row["id"], "thumbnail", expires) if done else None,
    )


# Every path that reads messages (message_rows.hydrate) fills in their attachments with this,
# in the same hand-off; the signing key is read there too (it exists once any file does).
_URL_TTL = [3600]
_KEY_OF = f"SELECT value FROM server_secrets WHERE name = '{SECRET_NAME}'"


def hydrate_attachments(query: Query, messages: list[message_rows.Hydratable]) -> None:
    live = [m for m in messages if not m.deleted]
    rows = _attachments_of(query, live) if live else []
    by_message: dict[str, list[AttachmentOut]] = {}
    if rows:
        found = query(_KEY_OF, {})
        key = base64.urlsafe_b64decode(found[0][0]) if found else b""
        for row in rows:
            by_message.setdefault(row["message_id"], []).append(describe_row(row, key, _URL_TTL[0]))
    for message in messages:
        message.attachments = by_message.get(message.id, [])


message_rows.HYDRATORS.append(hydrate_attachments)


_COLUMNS = ("id", "message_id", "filename", "content_type", "byte_size", "width", "height",
            "thumbnail_state")  # fmt: skip


# The files of one room's messages between two seqs, found through the messages' own index:
# for a page (the history page, a room's replay) this costs about a quarter of binding an IN
# list of every id (bench `http`, bench/results/profiles/). CROSS JOIN keeps SQLite's order.
_IN_RANGE = (
    f"SELECT {', '.join('a.' + c for c in _COLUMNS)} FROM messages AS m CROSS JOIN attachments AS a"
    " WHERE m.room_id = :room AND m.seq BETWEEN :lo AND :hi AND a.message_id = m.id"
    " ORDER BY a.message_id, a.position"
)


def _attachments_of(query: Query, messages: list[message_rows.Hydratable]) -> list[dict[str, Any]]:
    rooms = {m.room_id for m in messages}
    low, high = min(m.seq for m in messages), max(m.seq for m in messages)
    if len(rooms) == 1 and high - low < 2 * len(messages):
        # Dense (a page): the range holds at most twice the messages asked for.
        wanted = {m.id for m in messages}
        found = query(_IN_RANGE, {"room": rooms.pop(), "lo": low, "hi": high})
        return [dict(zip(_COLUMNS, row, strict=True)) for row in found if row[1] in wanted]
    message_ids = [m.id for m in messages]
    rows: list[dict[str, Any]] = []
    for start in range(0, len(message_ids), 500):
        ids, params = in_list("m", message_ids[start : start + 500])
        found = query(
            f"SELECT {', '.join(_COLUMNS)} FROM attachments WHERE message_id IN {ids}"
            " ORDER BY message_id, position",
            params,
        )
        rows.extend(dict(zip(_COLUMNS, row, strict=True)) for row in found)
    return rows
