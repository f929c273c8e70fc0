"""The storage interface both backends implement."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

CHUNK = 256 * 1024
# Keys are made by the server (`rooms/<uuid>/<uuid>/original`); anything else is a bug.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")


class FileMissing(LookupError):
    """No file is stored under that key."""


def check_key(key: str) -> str:
    if _KEY.fullmatch(key) is None or ".." in key:
        raise ValueError(f"not a storage key: {key!r}")
    return key


@dataclass
class StoredFile:
    """An open stored file: its size, and its bytes in chunks."""

    size: int
    chunks: AsyncIterator[bytes]


class Storage(Protocol):
    async def put(self, key: str, data: AsyncIterable[bytes], content_type: str) -> int:
        """Store `data` under `key` (replacing any file there); return its size. If `data`
        raises, the exception propagates and nothing is left stored under `key`."""
        ...

    def open(self, key: str) -> AbstractAsyncContextManager[StoredFile]:
        """`async with storage.open(key) as f`: stream a stored file; FileMissing if none."""
        ...

    async def delete(self, keys: list[str]) -> None:
        """Remove these files; missing ones are no error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every file whose key starts with `prefix` (ending in `/`); return how many."""
        ...

    async def close(self) -> None: ...
