"""Attachments (PROTOCOL.md 9.4): uploads, signed URLs, access to files, thumbnails, removal.

Files are stored under `rooms/<room id>/<attachment id>/{original,thumbnail}`, so a room's
files can be removed by prefix even after its rows are gone. An upload is unused until a
message of its uploader in its room takes it (in the message's own transaction, see
message_store); unused ones are swept after `orphan_attachment_hours`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app import models
from app.config import Settings
from app.db import Database, Query, in_list
from app.errors import CampfireError, ErrorCode, invalid, not_found
from app.models import new_id, utcnow
from app.schemas import AttachmentOut, MessageOut
from app.services import message_rows
from app.services.auth import Principal
from app.services.rooms import RoomService
from app.services.sniff import SNIFF_BYTES, is_inline_image, sniff
from app.services.thumbnails import THUMBNAIL_TYPE, ImageRejected, make_thumbnail
from app.storage import FileMissing, Storage, StoredFile

log = logging.getLogger(__name__)

Variant = Literal["original", "thumbnail"]
ATTACHMENTS = models.Attachment.__table__  # type: ignore[attr-defined]
SECRET_NAME = "attachment_url_key"
MAX_FILENAME = 255
# Filename characters kept: no controls, no path separators, nothing a header cannot carry.
_FILENAME_DROP = {chr(c) for c in range(32)} | {"\x7f", "/", "\\", '"'}


class TooLarge(CampfireError):
    """413: an upload over CAMPFIRE_MAX_UPLOAD_MB."""

    def __init__(self, limit_mb: float) -> None:
        super().__init__(
            ErrorCode.invalid_message_format, f"the file is larger than {limit_mb:g} MB"
        )

    @property
    def http_status(self) -> int:
        return 413


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


def clean_filename(name: str | None) -> str:
    """The last path part of the client's name, without controls; `file` if nothing is left."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c not in _FILENAME_DROP).strip().lstrip(".")
    return name[:MAX_FILENAME] or "file"


class AttachmentService:
    def __init__(
        self, settings: Settings, db: Database, rooms: RoomService, storage: Storage
    ) -> None:
        self._settings = settings
        self._db = db
        self._rooms = rooms
        self.storage = storage
        self._key: bytes | None = None
        # Set by the job runner: makes the thumbnail of an attachment (in a worker with Redis).
        self.thumbnailer: Callable[[str], Awaitable[Any]] | None = None
        _URL_TTL[0] = self._ttl()

    @property
    def max_bytes(self) -> int:
        return int(self._settings.max_upload_mb * 1024 * 1024)

    # ---- uploading ------------------------------------------------------------------

    async def upload(
        self, actor: Principal, room_id: str, filename: str | None, data: AsyncIterator[bytes]
    ) -> AttachmentOut:
        """Store an upload to a room (members only), streaming, within the size limit."""
        await self._rooms.require_member(actor, room_id)
        head = bytearray()
        async for chunk in data:
            head += chunk
            if len(head) >= SNIFF_BYTES:
                break
        content_type = sniff(bytes(head[:SNIFF_BYTES]))
        limit = self.max_bytes

        async def limited() -> AsyncIterator[bytes]:
            size = len(head)
            if size > limit:
                raise TooLarge(self._settings.max_upload_mb)
            yield bytes(head)
            async for chunk in data:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(self._settings.max_upload_mb)
                yield chunk

        attachment_id = new_id()
        key = storage_key(room_id, attachment_id, "original")
        size = await self.storage.put(key, limited(), content_type)
        row = models.Attachment(
            id=attachment_id,
            room_id=room_id,
            uploader_id=actor.user_id,
            filename=clean_filename(filename),
            content_type=content_type,
            byte_size=size,
            thumbnail_state="pending" if is_inline_image(content_type) else "none",
        )
        try:
            async with self._db.session() as session:
                session.add(row)
                await session.commit()
        except IntegrityError:
            # The room was deleted meanwhile.
            await self.storage.delete([key])
            raise not_found("room") from None
        if row.thumbnail_state == "pending":
            await self._wait_for_thumbnail(attachment_id)
            row = await self._row(attachment_id) or row
        return await self.describe(row)

    async def _wait_for_thumbnail(self, attachment_id: str) -> None:
        """Give the job a few seconds, so that the answer usually has width and height."""
        if self.thumbnailer is None:
            return
        try:
            await asyncio.wait_for(
                self.thumbnailer(attachment_id), self._settings.thumbnail_wait_seconds
            )
        except TimeoutError:
            log.info("thumbnail of %s not ready in time; answering without it", attachment_id)
        except Exception:
            log.exception("thumbnail job of %s failed", attachment_id)

    # ---- thumbnails (the background job) ----------------------------------------

    async def make_thumbnail(self, attachment_id: str) -> bool:
        """Read an image upload, store its thumbnail and record its width and height."""
        row = await self._row(attachment_id)
        if row is None or row.thumbnail_state != "pending":
            return False
        original = storage_key(row.room_id, row.id, "original")
        state, values = "failed", {}
        with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as copy:
            try:
                async with self.storage.open(original) as stored:
                    async for chunk in stored.chunks:
                        copy.write(chunk)
                copy.seek(0)
                thumb = await asyncio.to_thread(
                    make_thumbnail,
                    copy,  # type: ignore[arg-type]
                    self._settings.max_image_pixels,
                )
            except (ImageRejected, FileMissing) as exc:
                log.info("no thumbnail for attachment %s: %s", attachment_id, exc)
            except Exception:
                # Whatever went wrong, the upload must not stay "pending" for ever.
                log.exception("thumbnail of attachment %s failed", attachment_id)
            else:
                thumb_key = storage_key(row.room_id, row.id, "thumbnail")
                await self.storage.put(thumb_key, _once(thumb.data), THUMBNAIL_TYPE)
                state = "done"
                values = {"width": thumb.width, "height": thumb.height}
        async with self._db.engine.begin() as connection:
            result = await connection.execute(
                update(ATTACHMENTS)
                .where(ATTACHMENTS.c.id == attachment_id)
                .values(thumbnail_state=state, **values)
            )
        if result.rowcount == 0 and state == "done":
            # Deleted while we worked: do not leave its thumbnail behind.
            await self.storage.delete([storage_key(row.room_id, row.id, "thumbnail")])
        return state == "done"

    # ---- describing and signing ---------------------------------------------------

    async def describe(self, row: models.Attachment | dict[str, Any]) -> AttachmentOut:
        key = await self._signing_key()
        return _describe(row if isinstance(row, dict) else row.model_dump(), key, self._ttl())

    async def for_messages(self, messages: Sequence[MessageOut]) -> None:
        """Fill in `attachments` of these messages (one read for all of them)."""
        if messages:
            await self._db.read(lambda query: hydrate_attachments(query, list(messages)))

    def _ttl(self) -> int:
        return max(1, int(self._settings.attachment_url_ttl_seconds))

    async def _signing_key(self) -> bytes:
        if self._key is None:
            self._key = await self._load_or_create_key()
        return self._key

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

    # ---- serving --------------------------------------------------------------------

    async def signed(
        self, attachment_id: str, variant: Variant, expires: str | None, signature: str | None
    ) -> Servable | None:
        """The file a valid, unexpired signed URL names; None when the signature is not."""
        if expires is None or signature is None or not expires.isdigit() or len(expires) > 12:
            return None
        if int(expires) < time.time():
            return None
        expected = _signature(await self._signing_key(), attachment_id, variant, int(expires))
        if not hmac.compare_digest(expected, signature.encode("ascii", "replace")):
            return None
        row = await self._row(attachment_id)
        if row is None:
            raise not_found("attachment")
        return self._servable(row, variant, int(expires))

    async def for_reader(self, actor: Principal, attachment_id: str, variant: Variant) -> Servable:
        """The file, for a signed-in user who may read its room (an unsent upload: its
        uploader only)."""
        row = await self._row(attachment_id)
        if row is None or (row.message_id is None and row.uploader_id != actor.user_id):
            raise not_found("attachment")
        await self._rooms.require_readable(actor, row.room_id)
        return self._servable(row, variant, None)

    async def describe_for(self, actor: Principal, attachment_id: str) -> AttachmentOut:
        row = await self._row(attachment_id)
        if row is None or (row.message_id is None and row.uploader_id != actor.user_id):
            raise not_found("attachment")
        await self._rooms.require_readable(actor, row.room_id)
        return await self.describe(row)

    def _servable(self, row: models.Attachment, variant: Variant, expires: int | None) -> Servable:
        if variant == "thumbnail":
            if row.thumbnail_state != "done":
                raise not_found("thumbnail")
            return Servable(
                storage_key(row.room_id, row.id, "thumbnail"),
                THUMBNAIL_TYPE,
                row.filename,
                True,
                expires,
            )
        return Servable(
            storage_key(row.room_id, row.id, "original"),
            row.content_type,
            row.filename,
            is_inline_image(row.content_type),
            expires,
        )

    def open(self, servable: Servable) -> Any:
        return self.storage.open(servable.key)

    # ---- removal --------------------------------------------------------------------

    async def remove_message_files(self, message_ids: Sequence[str]) -> int:
        """Delete the attachments of these messages, rows and files (a deleted message)."""
        if not message_ids:
            return 0
        async with self._db.engine.begin() as connection:
            rows = (
                await connection.execute(
                    delete(ATTACHMENTS)
                    .where(ATTACHMENTS.c.message_id.in_(list(message_ids)))
                    .returning(ATTACHMENTS.c.id, ATTACHMENTS.c.room_id)
                )
            ).all()
        await self._delete_files([(row.room_id, row.id) for row in rows])
        return len(rows)

    async def remove_files_of(self, message: MessageOut) -> None:
        """LifecycleService's after-delete hook."""
        await self.remove_message_files([message.id])

    async def remove_room_files(self, room_id: str) -> int:
        """Delete every file of a room (a deleted room); works before or after its rows go."""
        async with self._db.engine.begin() as connection:
            await connection.execute(delete(ATTACHMENTS).where(ATTACHMENTS.c.room_id == room_id))
        return await self.storage.delete_prefix(room_prefix(room_id))

    async def sweep_orphans(self) -> int:
        """Remove uploads no message took within `orphan_attachment_hours`."""
        cutoff = utcnow() - timedelta(hours=self._settings.orphan_attachment_hours)
        async with self._db.engine.begin() as connection:
            rows = (
                await connection.execute(
                    delete(ATTACHMENTS)
                    .where(ATTACHMENTS.c.message_id.is_(None), ATTACHMENTS.c.created_at < cutoff)
                    .returning(ATTACHMENTS.c.id, ATTACHMENTS.c.room_id)
                )
            ).all()
        await self._delete_files([(row.room_id, row.id) for row in rows])
        return len(rows)

    async def _delete_files(self, ids: Sequence[tuple[str, str]]) -> None:
        keys = [
            storage_key(room_id, attachment_id, variant)
            for room_id, attachment_id in ids
            for variant in ("original", "thumbnail")
        ]
        if keys:
            await self.storage.delete(keys)

    async def why_not_attachable(
        self, actor: Principal, room_id: str, attachment_ids: Sequence[str]
    ) -> CampfireError:
        return await why_not_attachable(self._db, actor, room_id, attachment_ids)

    async def _row(self, attachment_id: str) -> models.Attachment | None:
        async with self._db.session() as session:
            return await session.get(models.Attachment, attachment_id)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _signature(key: bytes, attachment_id: str, variant: str, expires: int) -> bytes:
    mac = hmac.new(key, f"{attachment_id}/{variant}/{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")


def _signed_url(key: bytes, attachment_id: str, variant: Variant, expires: int) -> str:
    signature = _signature(key, attachment_id, variant, expires).decode()
    return f"/api/attachments/{attachment_id}/{variant}?expires={expires}&signature={signature}"


def _describe(row: dict[str, Any], key: bytes, ttl: int) -> AttachmentOut:
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


def hydrate_attachments(query: Query, messages: list[MessageOut]) -> None:
    live = [m for m in messages if not m.deleted]
    rows = _attachments_of(query, [m.id for m in live]) if live else []
    by_message: dict[str, list[AttachmentOut]] = {}
    if rows:
        found = query(_KEY_OF, {})
        key = base64.urlsafe_b64decode(found[0][0]) if found else b""
        for row in rows:
            by_message.setdefault(row["message_id"], []).append(_describe(row, key, _URL_TTL[0]))
    for message in messages:
        message.attachments = by_message.get(message.id, [])


message_rows.HYDRATORS.append(hydrate_attachments)


_COLUMNS = ("id", "message_id", "filename", "content_type", "byte_size", "width", "height",
            "thumbnail_state")  # fmt: skip


def _attachments_of(query: Query, message_ids: list[str]) -> list[dict[str, Any]]:
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


__all__ = ["AttachmentService", "Servable", "StoredFile", "TooLarge"]


async def why_not_attachable(
    db: Database, actor: Principal, room_id: str, attachment_ids: Sequence[str]
) -> CampfireError:
    """The error for attachment ids a message could not take (see message_store)."""
    async with db.session() as session:
        for attachment_id in attachment_ids:
            row = await session.get(models.Attachment, attachment_id)
            if row is None or row.uploader_id != actor.user_id or row.room_id != room_id:
                return not_found(f"attachment {attachment_id}")
            if row.message_id is not None:
                return invalid(f"attachment {attachment_id} was already sent with a message")
    return invalid("the attachments changed while the message was stored; try again")
