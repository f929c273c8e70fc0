"""Shared fixtures: live servers started per test session or per test, and API sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import ADMIN_EMAIL, UNLIMITED, Api, ServerProcess, create_admin, login


def _boot(workdir: Path, env: dict[str, str]) -> ServerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(workdir=workdir, env=env)
    create_admin(server)
    server.start()
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One shared server with rate limits off; tests isolate themselves by their own users
    and rooms."""
    process = _boot(tmp_path_factory.mktemp("shared-server"), dict(UNLIMITED))
    yield process
    process.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a dedicated server with the given environment (limits, intervals)."""
    started: list[ServerProcess] = []

    def make(**env: str) -> ServerProcess:
        process = _boot(tmp_path / f"server-{len(started)}", {**UNLIMITED, **env})
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def admin(server: ServerProcess, http: aiohttp.ClientSession) -> Api:
    return await login(http, server.url, ADMIN_EMAIL)


@pytest.fixture
def user_factory(admin: Api, http: aiohttp.ClientSession, server: ServerProcess) -> Any:
    async def make(name: str = "user") -> Api:
        user = await admin.create_user(name)
        return await login(http, server.url, user["email_address"])

    return make
