"""`GET /api/search` (PROTOCOL.md 9.5): a thin adapter over `SearchService`."""

from __future__ import annotations

import uuid

from aiohttp import web

from app.errors import invalid
from app.http.routes import json, principal, query_int, services_key
from app.schemas import is_uuid, wire
from app.services.search import SEARCH_DEFAULT_LIMIT


def _query_uuid(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is None:
        return None
    if not is_uuid(value):
        raise invalid(f"{name} must be a UUID")
    return str(uuid.UUID(value))


async def search(request: web.Request) -> web.Response:
    actor = await principal(request)
    limit = query_int(request, "limit")
    hits = await request.app[services_key].search.search(
        actor,
        request.query.get("q", ""),
        room_id=_query_uuid(request, "room_id"),
        limit=SEARCH_DEFAULT_LIMIT if limit is None else limit,
        before_id=_query_uuid(request, "before_id"),
    )
    return json({"messages": [{**wire(hit.message), "room": hit.room} for hit in hits]})


def setup_search_routes(app: web.Application) -> None:
    app.router.add_get("/api/search", search)
