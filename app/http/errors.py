"""Every error answer is JSON `{error, code}` with a fitting status; never a 500 for bad input."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from app.errors import CampfireError, ErrorCode
from app.outage import is_outage, log_limited, unavailable

log = logging.getLogger(__name__)

_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.invalid_message_format,
    401: ErrorCode.auth_required,
    403: ErrorCode.forbidden,
    404: ErrorCode.not_found,
    405: ErrorCode.not_found,
    409: ErrorCode.conflict,
    413: ErrorCode.invalid_message_format,
    415: ErrorCode.invalid_message_format,
    422: ErrorCode.invalid_message_format,
    429: ErrorCode.rate_limit_exceeded,
}


class BadRequest(CampfireError):
    """`invalid_message_format` for a request that cannot be read at all (400, not 422)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.invalid_message_format, message)

    @property
    def http_status(self) -> int:
        return 400


def error_response(exc: CampfireError) -> web.Response:
    headers = {}
    if exc.retry_after_header is not None:
        headers["Retry-After"] = exc.retry_after_header
    return web.json_response(
        {"error": exc.message, "code": exc.code.value}, status=exc.http_status, headers=headers
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except CampfireError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400 or request.path.startswith("/socket.io"):
            raise
        code = _STATUS_CODES.get(exc.status, ErrorCode.invalid_message_format)
        if exc.status >= 500:
            code = ErrorCode.internal_error
        response = web.json_response({"error": exc.reason, "code": code.value}, status=exc.status)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        if is_outage(exc):  # Redis or the database is down: 503 with Retry-After, not 500
            log_limited(
                log, logging.WARNING, "http-outage", "%s %s: %r", request.method, request.path, exc
            )
            return error_response(unavailable())
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(
            {"error": "internal error", "code": ErrorCode.internal_error.value}, status=500
        )
