"""The HTTP API (PROTOCOL.md section 7): thin aiohttp handlers over the domain layer."""

from __future__ import annotations

from aiohttp import web

from app.services import Services


def setup_http(app: web.Application, services: Services) -> None:
    from app.http.routes import setup_routes

    setup_routes(app, services)
