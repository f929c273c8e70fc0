"""Security headers on every response, and `/metrics` restricted when configured.

The app runs in-process on a real 127.0.0.1 socket (aiohttp's test server) over a migrated
SQLite file; the separate metrics listener is a real second socket.
"""

from __future__ import annotations

import logging
import sys

import aiohttp
import pytest
from aiohttp.http_exceptions import BadHttpMessage

from app.http.security import MalformedRequestLogFilter, parse_address
from app.main import create_app
from tests.http_support import AiohttpClient, Seeded, call, seeded_fixture
from tests.processes import free_port

TOKEN = "s3cret-metrics-token"
JS = "javascript"  # text/ or application/, by the machine's mimetypes


seeded = seeded_fixture("http-security", {"alice": "member"})


def assert_secured(response: aiohttp.ClientResponse) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    # No inline script, no eval, nothing from elsewhere.
    assert directives.get("script-src") == ["'self'"], policy
    assert directives.get("default-src") == ["'self'"], policy
    assert directives.get("object-src") == ["'none'"], policy
    assert directives.get("frame-ancestors") == ["'none'"], policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, policy
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("Referrer-Policy") == "no-referrer"


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/", 200, "text/html"),
        ("/app.js", 200, JS),
        ("/campfire-client.js", 200, JS),
        ("/client/connection.js", 200, JS),
        ("/style.css", 200, "text/css"),
        ("/vendor/socket.io-client/socket.io.esm.min.js", 200, JS),
        ("/api/openapi.json", 200, "application/json"),
        ("/healthz", 200, "application/json"),
        ("/metrics", 200, "text/plain"),
        ("/api/me", 401, "application/json"),
        ("/no/such/page", 404, "application/json"),
        ("/socket.io/?EIO=4&transport=polling", 200, "text/plain"),
    ],
)
async def test_every_page_file_and_answer_carries_the_security_headers(
    aiohttp_client: AiohttpClient, seeded: Seeded, path: str, status: int, content_type: str
) -> None:
    client = await aiohttp_client(create_app(seeded.settings()))
    async with client.get(path) as response:
        await response.read()
        assert response.status == status
        assert response.content_type.endswith(content_type), response.content_type
        assert_secured(response)


async def test_a_refused_method_and_an_oversized_body_carry_the_headers_too(
    aiohttp_client: AiohttpClient, seeded: Seeded
) -> None:
    client = await aiohttp_client(create_app(seeded.settings()))
    async with client.put("/api/rooms") as response:
        assert response.status == 405
        assert_secured(response)
    alice = seeded.accounts["alice"].auth
    async with client.post("/api/rooms", data=b"x" * (2 * 1024 * 1024), headers=alice) as response:
        assert response.status == 413
        assert_secured(response)


async def test_metrics_are_open_when_no_token_is_configured(
    aiohttp_client: AiohttpClient, seeded: Seeded
) -> None:
    client = await aiohttp_client(create_app(seeded.settings()))
    async with client.get("/metrics") as response:
        assert response.status == 200
        assert "campfire_active_connections" in await response.text()


async def test_metrics_need_the_configured_bearer_token(
    aiohttp_client: AiohttpClient, seeded: Seeded
) -> None:
    client = await aiohttp_client(create_app(seeded.settings(metrics_token=TOKEN)))
    status, body = await call(client, "GET", "/metrics")
    assert (status, body["code"]) == (401, "auth_required")
    for wrong in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer "):
        status, body = await call(client, "GET", "/metrics", headers={"Authorization": wrong})
        assert status == 401 and body["code"] in {"auth_required", "auth_failed"}, wrong
    # A user's session token is not the metrics token.
    alice = seeded.accounts["alice"]
    status, _ = await call(client, "GET", "/metrics", alice)
    assert status == 401
    async with client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200
        assert "campfire_active_connections" in await response.text()
        assert_secured(response)
    # The rest of the site does not need it.
    await call(client, "GET", "/healthz", expect=200)


async def test_metrics_on_their_own_address_and_not_on_the_public_port(
    aiohttp_client: AiohttpClient, seeded: Seeded
) -> None:
    port = free_port()
    settings = seeded.settings(metrics_address=f"127.0.0.1:{port}", metrics_token=TOKEN)
    client = await aiohttp_client(create_app(settings))
    status, body = await call(
        client, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert (status, body["code"]) == (404, "not_found")
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 401
            assert (await response.json())["code"] == "auth_required"
        async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
            assert "campfire_active_connections" in await response.text()
            assert_secured(response)
        async with http.get(f"http://127.0.0.1:{port}/api/me") as response:
            assert response.status == 404  # the listener serves the metrics and nothing else
    await client.close()
    # The listener goes away with the app.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(url):
                pass


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        ("[::1]:9100", ("::1", 9100)),
        ("9100", ("127.0.0.1", 9100)),
    ],
)
def test_metrics_address_forms(address: str, parsed: tuple[str, int]) -> None:
    assert parse_address(address) == parsed


@pytest.mark.parametrize("address", ["localhost:http", "127.0.0.1:0", "127.0.0.1:70000", ""])
def test_a_bad_metrics_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="CAMPFIRE_METRICS_ADDRESS"):
        parse_address(address)


def test_a_bad_metrics_address_stops_the_app_from_being_built(seeded: Seeded) -> None:
    with pytest.raises(ValueError, match="CAMPFIRE_METRICS_ADDRESS"):
        create_app(seeded.settings(metrics_address="localhost:http"))


def test_parser_refusals_are_logged_as_one_line_each_and_at_most_per_minute() -> None:
    now = [0.0]
    quiet = MalformedRequestLogFilter(per_minute=2, clock=lambda: now[0])

    def record(exc: BaseException) -> logging.LogRecord:
        try:
            raise exc
        except BaseException:
            info = sys.exc_info()
        return logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("10.0.0.9",),
            info,
        )

    bad = [record(BadHttpMessage("Invalid header value char:\n\n  b'\\x01'")) for _ in range(5)]
    passed = [r for r in bad if quiet.filter(r)]
    assert len(passed) == 2
    assert passed[0].levelno == logging.INFO and passed[0].exc_info is None
    assert passed[0].getMessage() == (
        "refused a malformed HTTP request from 10.0.0.9: Invalid header value char:"
    )
    now[0] = 61.0
    later = record(BadHttpMessage("bad"))
    assert quiet.filter(later)
    assert later.getMessage().endswith("bad (3 more not logged)")
    # Anything else aiohttp logs keeps its level and traceback.
    other = record(RuntimeError("a bug"))
    assert quiet.filter(other) and other.levelno == logging.ERROR and other.exc_info
