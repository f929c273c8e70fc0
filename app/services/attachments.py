"""Attachments (PROTOCOL.md 9.4): uploads, access to files, removal.

An upload is unused until a message of its uploader in its room takes it (in the message's
own transaction, see message_store); unused ones are swept after `orphan_attachment_hours`.
Where files live and how URLs are signed: attachment_urls.py; the thumbnail job:
attachment_thumbnails.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app import models
from app.config import Settings
from app.db import Database
from app.errors import CampfireError, ErrorCode, invalid, not_found
from app.models import new_id, utcnow
from app.schemas import AttachmentOut, MessageOut
from app.services.attachment_thumbnails import thumbnail_attachment
from app.services.attachment_urls import (
    Servable,
    UrlSigner,
    Variant,
    hydrate_attachments,
    room_prefix,
    storage_key,
)
from app.services.auth import Principal
from app.services.rooms import RoomService
from app.services.sniff import SNIFF_BYTES, is_inline_image, sniff
from app.services.thumbnails import THUMBNAIL_TYPE
from app.storage import Storage, StoredFile

log = logging.getLogger(__name__)

ATTACHMENTS = models.Attachment.__table__  # type: ignore[attr-defined]
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
        self.signer = UrlSigner(db, settings.attachment_url_ttl_seconds)
        # Set by the job runner: makes the thumbnail of an attachment (in a worker with Redis).
        self.thumbnailer: Callable[[str], Awaitable[Any]] | None = None
        # Run with a message's id when a thumbnail of one of its files was made after it was
        # sent (its `NewMessage` went out without it): the lifecycle announces the change.
        self.thumbnail_arrived: list[Callable[[str], Awaitable[Any]]] = []

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
        """The background job: thumbnail an image upload, record its width and height."""
        made = await thumbnail_attachment(
            self._db, self.storage, attachment_id, self._settings.max_image_pixels
        )
        # Read after the thumbnail's commit: a message sent before it went out without the
        # thumbnail; one sent after this read is hydrated with it already.
        row = await self._row(attachment_id) if made else None
        if row is not None and row.message_id is not None:
            for hook in self.thumbnail_arrived:
                await hook(row.message_id)
        return made

    # ---- describing and signing ---------------------------------------------------

    async def describe(self, row: models.Attachment | dict[str, Any]) -> AttachmentOut:
        return await self.signer.describe(row if isinstance(row, dict) else row.model_dump())

    async def for_messages(self, messages: Sequence[MessageOut]) -> None:
        """Fill in `attachments` of these messages (one read for all of them)."""
        if messages:
            await self._db.read(lambda query: hydrate_attachments(query, list(messages)))

    # ---- serving --------------------------------------------------------------------

    async def signed(
        self, attachment_id: str, variant: Variant, expires: str | None, signature: str | None
    ) -> Servable | None:
        """The file a valid, unexpired signed URL names; None when the signature is not."""
        valid_until = await self.signer.check(attachment_id, variant, expires, signature)
        if valid_until is None:
            return None
        row = await self._row(attachment_id)
        if row is None:
            raise not_found("attachment")
        return self._servable(row, variant, valid_until)

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


__all__ = ["AttachmentService", "Servable", "StoredFile", "TooLarge", "Variant"]


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
