"""The web UI (web/) and the socket.io-client bundle installed by npm, served as files."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
SOCKET_IO_DIST = WEB_ROOT / "node_modules" / "socket.io-client" / "dist"


async def index(_: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_ROOT / "index.html")


def setup_static(app: web.Application) -> None:
    if SOCKET_IO_DIST.is_dir():
        app.router.add_static("/vendor/socket.io-client/", SOCKET_IO_DIST)
    if (WEB_ROOT / "index.html").is_file():
        app.router.add_get("/", index)
        for path in sorted(WEB_ROOT.iterdir()):
            if path.is_file() and path.suffix in {".js", ".css", ".html", ".svg", ".png", ".ico"}:
                app.router.add_get(f"/{path.name}", _file(path))


def _file(path: Path):  # type: ignore[no-untyped-def]
    async def serve(_: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    return serve
