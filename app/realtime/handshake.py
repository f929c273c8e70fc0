"""What a socket brings to its handshake: its session token and its recovery cursors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from app.errors import CampfireError, ErrorCode
from app.schemas import AuthIn, parse


@dataclass(frozen=True, slots=True)
class Cursors:
    last_seen: dict[str, int] | None = None
    last_seen_message_id: str | None = None
    last_rev: dict[str, int] | None = None

    @property
    def present(self) -> bool:
        return (
            self.last_seen is not None
            or self.last_seen_message_id is not None
            or self.last_rev is not None
        )


def _handshake_token(environ: dict[str, Any], auth: Any) -> str | None:
    """The token from the auth payload, the Authorization header or `?token=`.

    None means the client sent none at all (it will use the `Auth` event); an empty one
    is refused as `auth_required`.
    """
    if isinstance(auth, dict) and "token" in auth:
        token = auth["token"]
        if not isinstance(token, str) or not token:
            raise CampfireError(ErrorCode.auth_required, "the auth payload's token is empty")
        return token
    header = environ.get("HTTP_AUTHORIZATION")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise CampfireError(ErrorCode.auth_required, "use Authorization: Bearer <token>")
        return value.strip()
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "token" in query:
        token = query["token"][0]
        if not token:
            raise CampfireError(ErrorCode.auth_required, "the token query parameter is empty")
        return token
    return None


def _cursors(auth: Any) -> Cursors:
    if not isinstance(auth, dict):
        return Cursors()
    names = ("last_seen", "last_seen_message_id", "last_rev")
    fields = {k: auth[k] for k in names if auth.get(k) is not None}
    if not fields:
        return Cursors()
    data = parse(AuthIn, fields)
    return Cursors(data.last_seen, data.last_seen_message_id, data.last_rev)
