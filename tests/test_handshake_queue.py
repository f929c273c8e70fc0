"""The handshake queue (app/services/admission.py, HandshakeQueue), against a real server whose
PostgreSQL is reached through a proxy that a test makes slow or stalls.

At most CAMPFIRE_HANDSHAKES_IN_FLIGHT handshakes run the connect handler at once; the others
wait their turn before the 5 s dependency bound starts, so that in a reconnect storm the bound
measures the database and Redis, not the line in front of them. Before the queue, every
handshake started that clock at once and most of a storm was refused with `server_overloaded`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from app.outage import DEPENDENCY_TIMEOUT
from tests.fault_support import StallProxy
from tests.support import (
    ADMIN_EMAIL,
    UNLIMITED,
    Client,
    ServerProcess,
    create_admin,
    login,
    metric,
    scratch_postgres,
)

pytestmark = pytest.mark.timeout(600)

POSTGRES_PORT = 5432
# Generous waits: the refusals come after bounds of several seconds on a shared machine.
LONG = 60.0
WAITING = "campfire_handshakes_waiting"
IN_FLIGHT = "campfire_handshakes_in_flight"


def refused_total(reason: str) -> str:
    return f'campfire_handshakes_refused_total{{reason="{reason}"}}'


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with the tests' admin, shared by the module's servers."""
    with scratch_postgres() as url:
        setup = ServerProcess(workdir=tmp_path_factory.mktemp("setup"), env={"DATABASE_URL": url})
        setup.cli("migrate")
        create_admin(setup)
        yield url


@pytest.fixture
def proxy() -> Iterator[StallProxy]:
    stall = StallProxy(POSTGRES_PORT).start()
    yield stall
    stall.close()


class Deployment:
    """One `campfire serve` on the proxied database, and the admin's session token."""

    def __init__(self, server: ServerProcess, http: aiohttp.ClientSession, token: str) -> None:
        self.server = server
        self.http = http
        self.token = token
        self.clients: list[Client] = []

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> Client:
        client = Client(self.url)
        self.clients.append(client)
        return client

    async def connect(self) -> dict[str, object] | None:
        """Connect one socket: None if it was let in, else the refusal's data."""
        client = self.client()
        try:
            await client.connect(auth={"token": self.token}, wait_timeout=LONG)
        except socketio.exceptions.ConnectionError:
            assert isinstance(client.refusal, dict), client.refusal
            return client.refusal.get("data", client.refusal)
        return None

    async def metric(self, name: str) -> float:
        return await metric(self.http, self.url, name)

    async def queue_is(self, in_flight: int, waiting: int) -> None:
        """Wait until the queue holds exactly this (no event announces it)."""

        async def check() -> bool:
            return (await self.metric(IN_FLIGHT), await self.metric(WAITING)) == (
                in_flight,
                waiting,
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + LONG
        while not await check():
            assert loop.time() < deadline, "the queue never got there"
            await asyncio.sleep(0.05)


Deploy = Callable[..., ServerProcess]


@pytest.fixture
def deploy(tmp_path: Path, database: str, proxy: StallProxy) -> Iterator[Deploy]:
    """deploy(**env): a server on the proxied database with these settings, stopped after."""
    servers: list[ServerProcess] = []
    proxied = database.replace(f":{POSTGRES_PORT}/", f":{proxy.port}/")

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(
            workdir=tmp_path / f"server{len(servers)}",
            env={**UNLIMITED, "DATABASE_URL": proxied, **env},
        )
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@contextlib.asynccontextmanager
async def deployment(deploy: Deploy, proxy: StallProxy, **env: str) -> AsyncIterator[Deployment]:
    """A server with these settings; afterwards the proxy passes traffic and the sockets close."""
    async with aiohttp.ClientSession() as http:
        server = deploy(**env)
        admin = await login(http, server.url, ADMIN_EMAIL)
        d = Deployment(server, http, admin.token)
        try:
            yield d
        finally:
            proxy.open()
            await asyncio.gather(*(c.close() for c in d.clients))


async def test_a_burst_that_queues_longer_than_the_bound_is_all_let_in(
    deploy: Deploy, proxy: StallProxy
) -> None:
    """A saturated database serves one request at a time: the burst's handshakes together
    take well over the 5 s bound, each one alone far less. Every one is let in (before the
    queue, most were refused once their share of the line passed 5 s)."""
    async with deployment(deploy, proxy, CAMPFIRE_HANDSHAKES_IN_FLIGHT="2", **ONE_CONNECTION) as d:
        # Warm: the database connection open, the session's last use fresh.
        assert await d.connect() is None
        proxy.slow(SLOW_REQUEST)
        outcomes = await asyncio.gather(*(d.connect() for _ in range(BURST)))
        proxy.open()
        refused = [o for o in outcomes if o is not None]
        assert not refused, refused
        assert await d.metric(refused_total("wait_timeout")) == 0


async def test_a_flood_past_the_waiting_bound_is_refused_at_once_with_retry_after(
    deploy: Deploy, proxy: StallProxy
) -> None:
    async with deployment(
        deploy,
        proxy,
        CAMPFIRE_HANDSHAKES_IN_FLIGHT="2",
        CAMPFIRE_HANDSHAKES_WAITING="3",
        CAMPFIRE_HANDSHAKE_WAIT_SECONDS=str(LONG),
    ) as d:
        proxy.stall()  # the two in flight hold their slots; three wait behind them
        queued = [asyncio.ensure_future(d.connect()) for _ in range(5)]
        await d.queue_is(in_flight=2, waiting=3)
        flood = await d.connect()
        assert flood is not None and flood["code"] == "server_overloaded", flood
        assert 0 < flood["retry_after"] <= 60, flood  # type: ignore[operator]
        assert await d.metric(refused_total("queue_full")) == 1
        proxy.open()  # well within the 5 s bound of the two in flight
        assert await asyncio.gather(*queued) == [None] * 5
        await d.queue_is(in_flight=0, waiting=0)


async def test_a_wait_past_its_bound_is_refused_before_the_handshake_ahead_ends(
    deploy: Deploy, proxy: StallProxy
) -> None:
    async with deployment(
        deploy, proxy, CAMPFIRE_HANDSHAKES_IN_FLIGHT="1", CAMPFIRE_HANDSHAKE_WAIT_SECONDS="1"
    ) as d:
        proxy.stall()
        ahead = asyncio.ensure_future(d.connect())
        await d.queue_is(in_flight=1, waiting=0)
        behind = await d.connect()
        assert behind is not None and behind["code"] == "server_overloaded", behind
        assert 0 < behind["retry_after"] <= 60, behind  # type: ignore[operator]
        # Refused for its wait, while the one ahead was still within its own bound.
        assert await d.metric(refused_total("wait_timeout")) == 1
        assert await d.metric(IN_FLIGHT) == 1
        proxy.open()
        assert await ahead is None


async def test_an_outage_refuses_the_slot_holders_in_the_bound_and_the_line_with_them(
    deploy: Deploy, proxy: StallProxy
) -> None:
    """A frozen database: the handshakes holding the slots fail within the dependency bound,
    and the ones waiting behind them are refused with them, not one round of the bound after
    another for the whole line."""
    async with deployment(
        deploy,
        proxy,
        CAMPFIRE_HANDSHAKES_IN_FLIGHT="2",
        CAMPFIRE_HANDSHAKE_WAIT_SECONDS=str(LONG),
    ) as d:
        proxy.stall()
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempts = [asyncio.ensure_future(d.connect()) for _ in range(6)]
        await d.queue_is(in_flight=2, waiting=4)
        refusals = await asyncio.gather(*attempts)
        elapsed = loop.time() - started
        assert all(r is not None and r["code"] == "server_overloaded" for r in refusals)
        assert all(0 < r["retry_after"] <= 60 for r in refusals if r)  # type: ignore[operator]
        assert await d.metric(refused_total("outage")) == 4
        # Three rounds of the bound (two at a time) would take 15 s.
        assert elapsed < 2 * DEPENDENCY_TIMEOUT, elapsed
        proxy.open()
        # The database back: a handshake goes through again.
        assert await d.connect() is None


# The burst: a handshake's authentication read takes ~0.3 s on the saturated database (three
# requests), its welcome's reads ~0.8 s more. Without the queue all BURST reads are in line at
# once and more than half wait past the 5 s bound (measured: 18 of 30 refused); with two
# handshakes at a time one is in flight for ~2.5 s, and the burst takes ~35 s.
SLOW_REQUEST = 0.1
BURST = 30
# One database connection: every read waits its turn on it, as on a saturated database.
ONE_CONNECTION = {"CAMPFIRE_DB_POOL_SIZE": "1"}
