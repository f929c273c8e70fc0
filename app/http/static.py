"""The web UI (web/) and the socket.io-client bundle installed by npm, served as files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
SOCKET_IO_DIST = WEB_ROOT / "node_modules" / "socket.io-client" / "dist"

# Browsers refuse to run an ES module served with a non-JavaScript type, and the platform's
# mimetypes table varies (some map .js to text/plain): the types are fixed here.
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# The client library and the UI are split into modules in these folders (see web/README.md);
# test/, examples/ and node_modules/ are not part of the page.
MODULE_DIRS = ("client", "ui")


async def index(_: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_ROOT / "index.html", headers={"Content-Type": "text/html"})


def web_files() -> list[Path]:
    """The files the page loads: web/*.{js,css,...} and everything in web/client/, web/ui/."""
    files = [p for p in WEB_ROOT.iterdir() if p.is_file()]
    for folder in MODULE_DIRS:
        if (WEB_ROOT / folder).is_dir():
            files.extend(p for p in (WEB_ROOT / folder).rglob("*") if p.is_file())
    return sorted(p for p in files if p.suffix in CONTENT_TYPES)


def setup_static(app: web.Application) -> None:
    if SOCKET_IO_DIST.is_dir():
        app.router.add_static("/vendor/socket.io-client/", SOCKET_IO_DIST)
    if (WEB_ROOT / "index.html").is_file():
        app.router.add_get("/", index)
        for path in web_files():
            app.router.add_get("/" + path.relative_to(WEB_ROOT).as_posix(), _file(path))


def _file(path: Path) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    content_type = CONTENT_TYPES[path.suffix]

    async def serve(_: web.Request) -> web.FileResponse:
        return web.FileResponse(path, headers={"Content-Type": content_type})

    return serve
