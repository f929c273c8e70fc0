"""The page's files are served from web/, web/client/ and web/ui/ with the right types."""

from __future__ import annotations

import re

import aiohttp

from tests.support import ROOT, ServerProcess

WEB = ROOT / "web"


async def test_every_module_the_page_imports_is_served_as_javascript(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    # Follow the page's imports from app.js, as a browser would, so a module that exists on disk
    # but is not routed (a new folder, a typo) fails here rather than as a blank page.
    pending = ["/app.js", "/campfire-client.js"]
    seen: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        async with http.get(server.url + path) as response:
            assert response.status == 200, path
            assert response.headers["Content-Type"].startswith("text/javascript"), path
            text = await response.text()
        assert text == (WEB / path.lstrip("/")).read_text(), path
        base = path.rsplit("/", 1)[0]
        for target in re.findall(r'^(?:import|export) [^;]*?from "(\.{1,2}/[^"]+)"', text, re.M):
            parts = (base + "/" + target).split("/")
            resolved: list[str] = []
            for part in parts:
                if part == "..":
                    resolved.pop()
                elif part not in (".", ""):
                    resolved.append(part)
            pending.append("/" + "/".join(resolved))
    assert {"/client/client.js", "/ui/chat.js", "/ui/dom.js"} <= seen
    assert len(seen) >= 20


async def test_every_stylesheet_the_page_links_is_served_as_css(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(server.url + "/") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
        page = await response.text()
    sheets = re.findall(r'<link rel="stylesheet" href="(/[^"]+)">', page)
    assert sheets[:3] == ["/style.css", "/room.css", "/people.css"]  # one cascade, in order
    for path in sheets:
        async with http.get(server.url + path) as response:
            assert response.status == 200, path
            assert response.headers["Content-Type"].startswith("text/css"), path
            assert await response.text() == (WEB / path.lstrip("/")).read_text(), path


async def test_unit_tests_and_node_modules_are_not_served(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    for path in ("/test/fakes.js", "/package.json", "/node_modules/ws/package.json"):
        async with http.get(server.url + path) as response:
            assert response.status == 404, path
