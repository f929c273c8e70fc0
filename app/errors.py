"""The one error type that domain rules raise; adapters turn it into HTTP or Socket.IO answers."""

from __future__ import annotations

import math
from enum import StrEnum


class ErrorCode(StrEnum):
    auth_required = "auth_required"
    auth_failed = "auth_failed"
    forbidden = "forbidden"
    room_access_denied = "room_access_denied"
    invalid_message_format = "invalid_message_format"
    rate_limit_exceeded = "rate_limit_exceeded"
    too_many_connections = "too_many_connections"
    server_overloaded = "server_overloaded"
    not_found = "not_found"
    conflict = "conflict"
    internal_error = "internal_error"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.auth_required: 401,
    ErrorCode.auth_failed: 401,
    ErrorCode.forbidden: 403,
    ErrorCode.room_access_denied: 403,
    ErrorCode.invalid_message_format: 422,
    ErrorCode.rate_limit_exceeded: 429,
    ErrorCode.too_many_connections: 429,
    ErrorCode.server_overloaded: 503,
    ErrorCode.not_found: 404,
    ErrorCode.conflict: 409,
    ErrorCode.internal_error: 500,
}


class CampfireError(Exception):
    """A refusal with a protocol error code and a message a person can read."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def payload(self) -> dict[str, object]:
        """`{message, code, retry_after?}`: the body of an `Error` event and a refusal."""
        data: dict[str, object] = {"message": self.message, "code": self.code.value}
        if self.retry_after is not None:
            data["retry_after"] = self.retry_after
        return data

    @property
    def retry_after_header(self) -> str | None:
        return None if self.retry_after is None else str(math.ceil(self.retry_after))


def invalid(message: str) -> CampfireError:
    return CampfireError(ErrorCode.invalid_message_format, message)


def not_found(what: str) -> CampfireError:
    return CampfireError(ErrorCode.not_found, f"{what} not found")


def forbidden(message: str) -> CampfireError:
    return CampfireError(ErrorCode.forbidden, message)


def room_access_denied() -> CampfireError:
    return CampfireError(ErrorCode.room_access_denied, "you are not a member of this room")
