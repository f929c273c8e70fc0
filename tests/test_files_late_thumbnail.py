"""A thumbnail made after its message was sent (PROTOCOL.md 9.4, docs/protocol-notes.md): the
message's `NewMessage` went out without it, so the thumbnail's arrival is a change to the
message: the room's next rev, `MessageUpdated` to the room, and `last_rev` recovery and
`after_rev` polling carry it too. Deterministic order: the deployment has no worker until the
message is out, so the queued thumbnail job cannot run before it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.files_support import png
from tests.scaleout_support import Cluster, connect
from tests.support import ADMIN_EMAIL, Client, login

pytestmark = pytest.mark.timeout(400)

ENV = {
    "CAMPFIRE_CONNECT_RATE": "0",
    "CAMPFIRE_MESSAGE_RATE": "0",
    "CAMPFIRE_THUMBNAIL_WAIT_SECONDS": "0",  # answer uploads at once
    "CAMPFIRE_REPLAY_WAIT_SECONDS": "1",  # no worker at first: the web process replays
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    deployment = Cluster(tmp_path_factory.mktemp("late-thumbnail"), dict(ENV))
    try:
        deployment.setup()
        deployment.start(servers=1, workers=0)
        yield deployment
    finally:
        deployment.teardown()


async def test_a_thumbnail_made_after_its_message_is_announced_as_a_change(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    web = cluster.servers[0]
    admin = await login(http, web.url, ADMIN_EMAIL)
    room = await admin.create_room("late pictures", "closed")
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", png(1200, 600), filename="late.png", content_type="image/png")
    async with http.post(
        f"{web.url}/api/rooms/{room['id']}/attachments", data=form, headers=admin.headers
    ) as response:
        assert response.status == 201, await response.text()
        attachment = (await response.json())["attachment"]
    assert attachment["thumbnail_url"] is None  # no worker yet: the job waits in the queue

    clients: list[Client] = []
    try:
        watcher = await connect(clients, web, admin)
        body = {"content": "", "attachment_ids": [attachment["id"]]}
        _, sent = await admin.call("POST", f"/api/rooms/{room['id']}/messages", body, expect=201)
        message = sent["message"]
        live = await watcher.wait_for("NewMessage", lambda d: d["message"]["id"] == message["id"])
        assert live["message"]["attachments"][0]["thumbnail_url"] is None
        assert message["rev"] == 0

        cluster.add_worker()  # the queued job runs now, after the message went out

        update: dict[str, Any] = await watcher.wait_for(
            "MessageUpdated", lambda d: d["message"]["id"] == message["id"], timeout=120
        )
        assert update["room_id"] == room["id"] and update["rev"] == 1
        carried = update["message"]["attachments"][0]
        assert carried["id"] == attachment["id"]
        assert (carried["width"], carried["height"]) == (1200, 600)
        assert carried["thumbnail_url"] is not None
        assert update["message"]["rev"] == 1 and update["message"]["content"] == ""

        # A socket that had seen rev 0 gets the change by recovery, and polling finds it.
        late = await connect(
            clients,
            web,
            admin,
            last_seen={room["id"]: message["seq"]},
            last_rev={room["id"]: 0},
        )
        [recovered] = [
            d for d in late.named("MessageUpdated") if d["message"]["id"] == message["id"]
        ]
        assert recovered["rev"] == 1
        assert recovered["message"]["attachments"][0]["thumbnail_url"] is not None
        changed = await admin.history(room["id"], after_rev=0)
        assert [m["id"] for m in changed] == [message["id"]]
        assert changed[0]["attachments"][0]["width"] == 1200
    finally:
        for client in clients:
            await client.close()
