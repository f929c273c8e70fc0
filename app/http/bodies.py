"""Reading a request body from a client that may be slow, broken or hostile.

Every error is one of the JSON answers (`{error, code}`): a body that stalls is 408 once
`CAMPFIRE_BODY_TIMEOUT_SECONDS` pass (without it, a client that sends its headers and then
dribbles or withholds the body holds a connection and a handler forever: aiohttp has no such
timeout of its own); a body whose framing is broken (a bad chunk size, a connection closed
before Content-Length bytes) is 400; a body over the size limit is aiohttp's 413.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from app.http.errors import BadRequest


class BodyTimeout(BadRequest):
    @property
    def http_status(self) -> int:
        return 408


async def read_body(request: web.Request, limit_seconds: float) -> bytes:
    try:
        async with asyncio.timeout(limit_seconds if limit_seconds > 0 else None):
            return await request.read()
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {limit_seconds:g} s") from None
    except (web.RequestPayloadError, ConnectionError) as exc:
        raise BadRequest(f"the body could not be read: {exc}") from None
