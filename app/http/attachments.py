"""Uploading and serving files (PROTOCOL.md 9.4): thin adapters over `AttachmentService`.

Both directions stream: an upload goes from the multipart reader to storage chunk by chunk,
and a download from storage to the socket; neither holds a whole file.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from app.errors import forbidden, invalid, not_found
from app.http.errors import BadRequest
from app.http.routes import bearer_token, json, path_id, principal, services_key
from app.schemas import wire
from app.services.attachments import Servable, TooLarge, Variant
from app.storage import FileMissing, StoredFile

CHUNK = 256 * 1024
# Multipart framing around the file (boundaries, part headers): allowed on top of the limit
# when judging a request by its Content-Length.
FORM_OVERHEAD = 64 * 1024
# Files are never a page of ours: no scripts, no plugins, no framing, even if a browser were
# to render one.
# What aiohttp's multipart reader raises for a body it cannot parse.
_MALFORMED = (ValueError, AssertionError, KeyError, HttpProcessingError)
FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


async def upload(request: web.Request) -> web.Response:
    actor = await principal(request)
    room_id = path_id(request, "room_id")
    service = request.app[services_key].attachments
    await request.app[services_key].rooms.require_member(actor, room_id)
    length = request.content_length
    if length is not None and length > service.max_bytes + FORM_OVERHEAD:
        raise TooLarge(request.app[services_key].settings.max_upload_mb)
    if not request.content_type.startswith("multipart/form-data"):
        raise invalid("send the file as multipart/form-data, in a field named `file`")
    part = await _file_part(request)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await part.read_chunk(CHUNK):
                yield chunk
        except _MALFORMED as exc:
            raise BadRequest(f"the multipart body is malformed: {exc}") from None

    attachment = await service.upload(actor, room_id, part.filename, chunks())
    return json({"attachment": wire(attachment)}, status=201)


async def _file_part(request: web.Request) -> BodyPartReader:
    try:
        reader = await request.multipart()
        for _ in range(20):  # a few other fields are tolerated before `file`
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, BodyPartReader) and part.name == "file":
                return part
            await part.release()
    except _MALFORMED as exc:
        raise BadRequest(f"the multipart body is malformed: {exc}") from None
    raise invalid("the form has no field named `file`")


async def describe(request: web.Request) -> web.Response:
    actor = await principal(request)
    attachment_id = path_id(request, "attachment_id")
    found = await request.app[services_key].attachments.describe_for(actor, attachment_id)
    return json({"attachment": wire(found)})


async def download(request: web.Request) -> web.StreamResponse:
    attachment_id = path_id(request, "attachment_id")
    variant = request.match_info["variant"]
    if variant not in ("original", "thumbnail"):
        raise not_found("file")
    service = request.app[services_key].attachments
    expires, signature = request.query.get("expires"), request.query.get("signature")
    servable = await service.signed(attachment_id, cast(Variant, variant), expires, signature)
    if servable is None:
        if bearer_token(request) is None and (expires is not None or signature is not None):
            raise forbidden("this file link is invalid or has expired")
        actor = await principal(request)
        servable = await service.for_reader(actor, attachment_id, cast(Variant, variant))
    try:
        async with service.open(servable) as stored:
            return await _send(request, servable, stored)
    except FileMissing:
        raise not_found("file") from None


async def _send(request: web.Request, servable: Servable, stored: StoredFile) -> web.StreamResponse:
    response = web.StreamResponse(headers=_headers(servable))
    response.content_length = stored.size
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in stored.chunks:
            await response.write(chunk)
    await response.write_eof()
    return response


def _headers(servable: Servable) -> dict[str, str]:
    disposition = "inline" if servable.inline else "attachment"
    ascii_name = servable.filename.encode("ascii", "replace").decode().replace("?", "_")
    if servable.expires is None:
        cache = "private, no-cache"
    else:
        cache = f"private, max-age={max(0, servable.expires - int(time.time()))}"
    return {
        "Content-Type": servable.content_type,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{disposition}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(servable.filename, safe='')}",
        "Content-Security-Policy": FILE_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": cache,
    }


def setup_attachment_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/rooms/{room_id}/attachments", upload)
    r.add_get("/api/attachments/{attachment_id}", describe)
    r.add_get("/api/attachments/{attachment_id}/{variant}", download)
