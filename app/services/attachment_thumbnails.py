"""The thumbnail job of an image upload (PROTOCOL.md 9.4): run by the arq worker with Redis, or
by the web process's own scheduler without it.

The original is copied from storage to a spooled temporary file (memory up to 1 MB, then
disk) and decoded by Pillow on a thread (app/services/thumbnails.py guards against hostile
images). Whatever happens, the attachment leaves the `pending` state: `done` with its width
and height, or `failed` (stored and served as a file, without a thumbnail). At most
DECODING_AT_ONCE images are decoded at a time, which bounds the memory thumbnails take.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import weakref
from collections.abc import AsyncIterator

from sqlalchemy import update

from app import models
from app.db import Database
from app.services.attachment_urls import storage_key
from app.services.thumbnails import THUMBNAIL_TYPE, ImageRejected, make_thumbnail
from app.storage import FileMissing, Storage

log = logging.getLogger(__name__)

ATTACHMENTS = models.Attachment.__table__  # type: ignore[attr-defined]
SPOOL_BYTES = 1024 * 1024
# Images decoded at once per process: a picture within the pixel limit may still take a few
# hundred MB as a bitmap, and a worker runs many jobs at a time (CAMPFIRE_WORKER_MAX_JOBS).
DECODING_AT_ONCE = 2
_decoding: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _decoding_slots() -> asyncio.Semaphore:
    """This event loop's semaphore (tests run several loops in one process)."""
    loop = asyncio.get_running_loop()
    slots = _decoding.get(loop)
    if slots is None:
        slots = _decoding[loop] = asyncio.Semaphore(DECODING_AT_ONCE)
    return slots


async def thumbnail_attachment(
    db: Database, storage: Storage, attachment_id: str, max_pixels: int
) -> bool:
    """Read an image upload, store its thumbnail and record its width and height."""
    async with db.session() as session:
        row = await session.get(models.Attachment, attachment_id)
    if row is None or row.thumbnail_state != "pending":
        return False
    original = storage_key(row.room_id, row.id, "original")
    state, values = "failed", {}
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as copy:
        try:
            async with storage.open(original) as stored:
                async for chunk in stored.chunks:
                    copy.write(chunk)
            copy.seek(0)
            async with _decoding_slots():
                thumb = await asyncio.to_thread(make_thumbnail, copy, max_pixels)  # type: ignore[arg-type]
        except (ImageRejected, FileMissing) as exc:
            log.info("no thumbnail for attachment %s: %s", attachment_id, exc)
        except Exception:
            # Whatever went wrong, the upload must not stay "pending" for ever.
            log.exception("thumbnail of attachment %s failed", attachment_id)
        else:
            thumb_key = storage_key(row.room_id, row.id, "thumbnail")
            await storage.put(thumb_key, _once(thumb.data), THUMBNAIL_TYPE)
            state = "done"
            values = {"width": thumb.width, "height": thumb.height}
    async with db.engine.begin() as connection:
        result = await connection.execute(
            update(ATTACHMENTS)
            .where(ATTACHMENTS.c.id == attachment_id)
            .values(thumbnail_state=state, **values)
        )
    if result.rowcount == 0 and state == "done":
        # Deleted while we worked: do not leave its thumbnail behind.
        await storage.delete([storage_key(row.room_id, row.id, "thumbnail")])
    return state == "done"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
