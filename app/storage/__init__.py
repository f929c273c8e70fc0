"""File storage behind one interface (PROTOCOL.md 9.4): a local folder or an S3-compatible bucket.

Both stream: `put` takes the bytes as an async iterable and never holds a whole file (the S3
backend buffers at most one multipart part), `open` hands them back in chunks.
"""

from __future__ import annotations

from app.config import Settings
from app.storage.base import FileMissing, Storage, StoredFile, check_key


def create_storage(settings: Settings) -> Storage:
    if settings.storage_url:
        from app.storage.s3 import S3Storage

        return S3Storage.from_url(settings.storage_url, endpoint_url=settings.s3_endpoint_url)
    from app.storage.local import LocalStorage

    return LocalStorage(settings.storage_dir)


__all__ = ["FileMissing", "Storage", "StoredFile", "check_key", "create_storage"]
