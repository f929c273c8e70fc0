"""Files in an S3-compatible bucket (several machines): `CAMPFIRE_STORAGE_URL=s3://bucket/prefix`.

Credentials and region come from the usual AWS variables; a non-AWS service (MinIO, Ceph,
moto) is reached through `CAMPFIRE_S3_ENDPOINT_URL` or `AWS_ENDPOINT_URL`. Uploads stream:
a file up to one part is one PUT, a larger one a multipart upload, so at most one part
(8 MiB) of a file is held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlparse

from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from app.storage.base import CHUNK, FileMissing, StoredFile, check_key

PART = 8 * 1024 * 1024  # S3 parts are at least 5 MiB, except the last
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._endpoint_url = endpoint_url
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, endpoint_url: str | None = None) -> S3Storage:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError("CAMPFIRE_STORAGE_URL must look like s3://bucket/prefix")
        return cls(parsed.netloc, parsed.path, endpoint_url)

    async def _s3(self) -> Any:
        async with self._lock:
            if self._client is None:
                options: dict[str, Any] = {}
                if self._endpoint_url:
                    options["endpoint_url"] = self._endpoint_url
                self._client = await self._stack.enter_async_context(
                    get_session().create_client("s3", **options)
                )
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put(self, key: str, data: AsyncIterable[bytes], content_type: str) -> int:
        s3 = await self._s3()
        name = self._key(key)
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in data:
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= PART:
                    if upload_id is None:
                        created = await s3.create_multipart_upload(
                            Bucket=self.bucket, Key=name, ContentType=content_type
                        )
                        upload_id = created["UploadId"]
                    await self._part(s3, name, upload_id, parts, bytes(buffer[:PART]))
                    del buffer[:PART]
            if upload_id is None:
                await s3.put_object(
                    Bucket=self.bucket, Key=name, Body=bytes(buffer), ContentType=content_type
                )
                return size
            if buffer or not parts:
                await self._part(s3, name, upload_id, parts, bytes(buffer))
            await s3.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            return size
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    await s3.abort_multipart_upload(
                        Bucket=self.bucket, Key=name, UploadId=upload_id
                    )
            raise

    async def _part(
        self, s3: Any, name: str, upload_id: str, parts: list[dict[str, Any]], body: bytes
    ) -> None:
        number = len(parts) + 1
        answer = await s3.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    @asynccontextmanager
    async def open(self, key: str) -> AsyncIterator[StoredFile]:
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise FileMissing(key) from None
            raise
        body = answer["Body"]
        try:

            async def chunks() -> AsyncIterator[bytes]:
                while chunk := await body.read(CHUNK):
                    yield chunk

            yield StoredFile(int(answer["ContentLength"]), chunks())
        finally:
            body.close()

    async def delete(self, keys: list[str]) -> None:
        s3 = await self._s3()
        names = [self._key(key) for key in keys]
        for start in range(0, len(names), 1000):
            batch = [{"Key": name} for name in names[start : start + 1000]]
            await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    async def delete_prefix(self, prefix: str) -> int:
        s3 = await self._s3()
        full = self.prefix + check_key(prefix.rstrip("/")) + "/"
        removed = 0
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                await s3.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
                removed += len(objects)
        return removed

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
