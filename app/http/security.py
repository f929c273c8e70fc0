"""Security headers on every HTTP response, and who may read `/metrics`.

The headers are set in `on_response_prepare`, not in a handler middleware: that signal runs for
every response the application sends (pages, files from `add_static`, JSON errors, Socket.IO's
polling answers), just before its headers go out, including responses that a middleware would
only see after they were written. A websocket handshake (101) gets none: no browser applies them
to a websocket, and its response object, headers included, lives as long as the connection
(memory per idle connection, docs/internals.md).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from app.config import Settings
from app.errors import CampfireError, ErrorCode

log = logging.getLogger(__name__)

Render = Callable[[], bytes]

# The UI is files from this origin only: no inline script or style, no eval, no plugins, no
# framing. `connect-src 'self'` covers the same-origin ws:/wss: of the Socket.IO connection.
# `img-src data:` is for the empty favicon (`<link rel="icon" href="data:,">`).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # For browsers older than CSP's frame-ancestors.
    "X-Frame-Options": "DENY",
    # Room ids and paths stay on this site: links in messages lead elsewhere without them.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def add_security_headers(_: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.WebSocketResponse):
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def check_metrics_access(request: web.Request, settings: Settings) -> None:
    """Raise unless the request may read the metrics (no token configured: anyone may)."""
    expected = settings.metrics_token
    if not expected:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise CampfireError(ErrorCode.auth_required, "metrics need the metrics bearer token")
    # compare_digest: the time taken says nothing about how much of the token was right.
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise CampfireError(ErrorCode.auth_failed, "wrong metrics token")


class MalformedRequestLogFilter(logging.Filter):
    """aiohttp logs every request its HTTP parser refuses (a bad header byte, a line over 8190
    bytes, a bad chunk size) at ERROR with a full traceback: anyone could fill the log with
    them. Such a refusal is the client's fault: one INFO line each, at most `per_minute`."""

    def __init__(self, per_minute: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.per_minute = per_minute
        self.clock = clock
        self.window_start = clock()
        self.logged = 0
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        now = self.clock()
        if now - self.window_start >= 60:
            self.window_start, self.logged = now, 0
        if self.logged >= self.per_minute:
            self.suppressed += 1
            return False
        self.logged += 1
        reason = (exc.message or type(exc).__name__).splitlines()[0][:120]
        note = f" ({self.suppressed} more not logged)" if self.suppressed else ""
        self.suppressed = 0
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "refused a malformed HTTP request from %s: %s%s"
        record.args = (peer, reason, note)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text = None, None
        return True


def setup_security(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestLogFilter) for f in server_log.filters):
        server_log.addFilter(MalformedRequestLogFilter())


def parse_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:9100`), or a bare port, which listens on 127.0.0.1."""
    host, sep, port = address.strip().rpartition(":")
    if not sep:
        host, port = "127.0.0.1", address.strip()
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"CAMPFIRE_METRICS_ADDRESS {address!r} is not HOST:PORT") from None
    if not 0 < number < 65536:
        raise ValueError(f"CAMPFIRE_METRICS_ADDRESS {address!r}: port out of range")
    return host, number


def metrics_response(request: web.Request, settings: Settings, render: Render) -> web.Response:
    check_metrics_access(request, settings)
    return web.Response(body=render(), headers={"Content-Type": "text/plain; version=0.0.4"})


def serve_metrics_apart(
    app: web.Application,
    settings: Settings,
    render: Render,
    refresh: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve `/metrics` on CAMPFIRE_METRICS_ADDRESS, a listener of its own, for the life of
    `app` (the main port then answers 404 for it). `refresh` runs before each render."""
    from app.http.errors import json_errors

    host, port = parse_address(settings.metrics_address or "")

    async def metrics(request: web.Request) -> web.Response:
        if refresh is not None:
            await refresh()
        return metrics_response(request, settings, render)

    listener = web.Application(middlewares=[json_errors])
    listener.router.add_get("/metrics", metrics)
    setup_security(listener)

    async def run(_: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(listener, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("metrics on http://%s:%s/metrics", host, port)
        yield
        await runner.cleanup()

    app.cleanup_ctx.append(run)
