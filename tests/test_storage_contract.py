"""One contract, both storage backends: a local folder and an S3-compatible server (moto's
server mode, a real HTTP S3 API on 127.0.0.1)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.storage import FileMissing, Storage
from app.storage.local import LocalStorage
from app.storage.s3 import PART, S3Storage
from tests.storage_support import s3_endpoint_fixture

s3_endpoint = s3_endpoint_fixture("moto", "campfire-contract")


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "local":
        backend: Storage = LocalStorage(tmp_path / "storage")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        backend = S3Storage("campfire-contract", f"run-{tmp_path.name}", endpoint_url=endpoint)
    yield backend
    await backend.close()


async def produce(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def generated(size: int, seed: bytes = b"x") -> AsyncIterator[bytes]:
    """`size` bytes of a repeating pattern, made 1 MiB at a time (never whole in memory)."""
    block = hashlib.sha256(seed).digest() * (1024 * 1024 // 32)
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


async def read(storage: Storage, key: str) -> tuple[int, bytes]:
    async with storage.open(key) as stored:
        data = b"".join([chunk async for chunk in stored.chunks])
        return stored.size, data


async def digest(storage: Storage, key: str) -> tuple[int, int, str]:
    h = hashlib.sha256()
    count = 0
    async with storage.open(key) as stored:
        async for chunk in stored.chunks:
            h.update(chunk)
            count += len(chunk)
        return stored.size, count, h.hexdigest()


async def test_a_stored_file_reads_back_whole_with_its_size(storage: Storage) -> None:
    size = await storage.put("rooms/a/b/original", produce(b"hello ", b"world"), "text/plain")
    assert size == 11
    assert await read(storage, "rooms/a/b/original") == (11, b"hello world")


async def test_an_empty_file_is_stored_and_reads_back_empty(storage: Storage) -> None:
    assert await storage.put("rooms/a/empty/original", produce(), "text/plain") == 0
    assert await read(storage, "rooms/a/empty/original") == (0, b"")


async def test_a_large_file_streams_through_in_parts(storage: Storage) -> None:
    size = 2 * PART + 12345  # three S3 parts
    assert await storage.put("rooms/a/big/original", generated(size), "application/zip") == size
    expected = hashlib.sha256()
    async for chunk in generated(size):
        expected.update(chunk)
    assert await digest(storage, "rooms/a/big/original") == (size, size, expected.hexdigest())


async def test_a_failed_upload_leaves_nothing(storage: Storage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        async for chunk in generated(PART + 10):
            yield chunk
        raise RuntimeError("the client went away")

    with pytest.raises(RuntimeError):
        await storage.put("rooms/a/broken/original", broken(), "image/png")
    with pytest.raises(FileMissing):
        await read(storage, "rooms/a/broken/original")


async def test_a_second_put_to_a_key_replaces_the_first(storage: Storage) -> None:
    await storage.put("rooms/a/c/original", produce(b"first"), "text/plain")
    await storage.put("rooms/a/c/original", produce(b"second"), "text/plain")
    assert await read(storage, "rooms/a/c/original") == (6, b"second")


async def test_a_missing_file_raises_file_missing_and_deleting_it_is_no_error(
    storage: Storage,
) -> None:
    with pytest.raises(FileMissing):
        await read(storage, "rooms/nothing/here/original")
    await storage.delete(["rooms/nothing/here/original"])  # no error
    assert await storage.delete_prefix("rooms/nothing/") == 0


async def test_delete_prefix_removes_exactly_that_prefix_and_counts_it(storage: Storage) -> None:
    for key in ("rooms/r1/a/original", "rooms/r1/a/thumbnail", "rooms/r1/b/original",
                "rooms/r10/c/original", "rooms/r2/d/original"):  # fmt: skip
        await storage.put(key, produce(key.encode()), "text/plain")
    await storage.delete(["rooms/r1/b/original"])
    with pytest.raises(FileMissing):
        await read(storage, "rooms/r1/b/original")
    assert await storage.delete_prefix("rooms/r1/") == 2
    for key in ("rooms/r1/a/original", "rooms/r1/a/thumbnail"):
        with pytest.raises(FileMissing):
            await read(storage, key)
    # Only that prefix: a room whose id starts the same way keeps its files.
    assert await read(storage, "rooms/r10/c/original") == (20, b"rooms/r10/c/original")
    assert await read(storage, "rooms/r2/d/original") == (19, b"rooms/r2/d/original")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "a//b", "", "a/ b", "a/.b"])
async def test_keys_that_could_escape_or_mislead_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        await storage.put(key, produce(b"x"), "text/plain")
