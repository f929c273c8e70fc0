"""Thumbnails made by the arq worker (PROTOCOL.md 9.4) in a deployment on Redis and PostgreSQL:
a web process stores an upload and queues its thumbnail job, a separate `campfire worker`
process makes it, and the answer (or a later read) carries width, height and thumbnail_url.
Hostile images reach the worker too: it records "no thumbnail" and goes on working."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.files_support import noisy_jpeg, noisy_png, png, png_header_only, truncated
from tests.scaleout_support import Cluster
from tests.support import ADMIN_EMAIL, Api, login, metric

# Starting a cluster takes long on a busy machine.
pytestmark = pytest.mark.timeout(400)

ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    # The first server's uploads wait for the worker (generously: the machine may be busy).
    "CAMPFIRE_THUMBNAIL_WAIT_SECONDS": "120",
}
MADE = 'campfire_job_runs_total{job="make_thumbnail",outcome="ok"}'


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    deployment = Cluster(tmp_path_factory.mktemp("files-scaleout"), dict(ENV))
    try:
        deployment.setup()
        deployment.start(servers=1, workers=1)
        # A second web process that answers uploads without waiting for the thumbnail.
        deployment.add_server(CAMPFIRE_THUMBNAIL_WAIT_SECONDS="0")
        yield deployment
    finally:
        deployment.teardown()


@pytest.fixture
async def admin(http: aiohttp.ClientSession, cluster: Cluster) -> Api:
    return await login(http, cluster.servers[0].url, ADMIN_EMAIL)


def worker_base(cluster: Cluster) -> str:
    return f"http://127.0.0.1:{cluster.workers[0].metrics_port}"


async def upload(who: Api, base: str, room_id: str, data: bytes, name: str) -> dict[str, Any]:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", data, filename=name, content_type="image/png")
    async with who.http.post(
        f"{base}/api/rooms/{room_id}/attachments", data=form, headers=who.headers
    ) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["attachment"]


async def read(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], bytes]:
    async with http.get(url) as response:
        return response.status, dict(response.headers), await response.read()


async def test_the_worker_makes_the_thumbnail_the_upload_answers_with(
    cluster: Cluster, admin: Api, http: aiohttp.ClientSession
) -> None:
    web = cluster.servers[0]
    before = await metric(http, worker_base(cluster), MADE)
    room = await admin.create_room("pictures", "closed")
    attachment = await upload(admin, web.url, room["id"], png(1600, 1200), "wide.png")
    assert attachment["content_type"] == "image/png"
    assert (attachment["width"], attachment["height"]) == (1600, 1200)
    assert attachment["thumbnail_url"] is not None
    # It was the worker: its own counter of thumbnail runs moved.
    assert await metric(http, worker_base(cluster), MADE) == before + 1
    status, headers, body = await read(http, web.url + attachment["thumbnail_url"])
    assert status == 200 and headers["Content-Type"] == "image/webp"
    with Image.open(io.BytesIO(body)) as thumb:
        assert thumb.size == (800, 600)
    # A message carries it, with the dimensions, to a read on the other web process.
    body_json = {"content": "", "attachment_ids": [attachment["id"]]}
    _, sent = await admin.call("POST", f"/api/rooms/{room['id']}/messages", body_json, expect=201)
    other = cluster.servers[1]
    async with http.get(
        f"{other.url}/api/rooms/{room['id']}/messages", headers=admin.headers
    ) as response:
        history = await response.json()
    [carried] = [m for m in history["messages"] if m["id"] == sent["message"]["id"]]
    assert carried["attachments"][0]["width"] == 1600
    status, _, _ = await read(http, other.url + carried["attachments"][0]["thumbnail_url"])
    assert status == 200


async def test_an_upload_answered_before_its_thumbnail_gets_it_later(
    cluster: Cluster, admin: Api, http: aiohttp.ClientSession
) -> None:
    quick = cluster.servers[1]  # waits 0 s for the thumbnail
    room = await admin.create_room("quick", "closed")
    attachment = await upload(admin, quick.url, room["id"], png(900, 300), "banner.png")
    assert attachment["width"] is None and attachment["thumbnail_url"] is None

    async def described() -> dict[str, Any]:
        async with http.get(
            f"{quick.url}/api/attachments/{attachment['id']}", headers=admin.headers
        ) as response:
            return (await response.json())["attachment"]

    # The job was queued although nobody waited for it: the worker makes it soon after (no
    # event announces it, so poll with a deadline).
    deadline = time.monotonic() + 120
    while (found := await described())["width"] is None:
        assert time.monotonic() < deadline, "the worker never made the thumbnail"
        await asyncio.sleep(0.1)
    assert (found["width"], found["height"]) == (900, 300)
    assert found["thumbnail_url"] is not None


@pytest.mark.parametrize(
    "data",
    [truncated(noisy_png()), truncated(noisy_jpeg()), png_header_only(30000, 30000)],
    ids=["truncated-png", "truncated-jpeg", "30000x30000-bomb"],
)
async def test_hostile_images_get_no_thumbnail_and_the_worker_goes_on(
    cluster: Cluster, admin: Api, http: aiohttp.ClientSession, data: bytes
) -> None:
    web = cluster.servers[0]
    before = await metric(http, worker_base(cluster), MADE)
    room = await admin.create_room("hostile", "closed")
    attachment = await upload(admin, web.url, room["id"], data, "evil.png")
    assert attachment["content_type"] in ("image/png", "image/jpeg")
    assert attachment["width"] is None and attachment["height"] is None
    assert attachment["thumbnail_url"] is None
    # The job ran to its end (refusing the image), and the file is still served as stored.
    assert await metric(http, worker_base(cluster), MADE) == before + 1
    status, headers, body = await read(http, web.url + attachment["url"])
    assert status == 200 and body == data
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert cluster.workers[0].running
    good = await upload(admin, web.url, room["id"], png(20, 10), "fine.png")
    assert (good["width"], good["height"]) == (20, 10)
