"""Files through a live `campfire serve` whose storage is an S3-compatible server (moto's
server mode): an upload over HTTP, a socket `NewMessage` with only files, the broadcast
carrying them to the other member, and the file read back through its signed URL."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.files_support import png
from tests.storage_support import S3_ENV, s3_endpoint_fixture
from tests.support import ADMIN_EMAIL, Client, login

s3_endpoint = s3_endpoint_fixture("moto-live", "campfire-live")


@pytest.mark.timeout(300)
async def test_socket_message_with_files_on_s3_storage(
    make_server, s3_endpoint: str, tmp_path: Path
) -> None:
    server = make_server(
        CAMPFIRE_STORAGE_URL="s3://campfire-live/deployment-a",
        CAMPFIRE_S3_ENDPOINT_URL=s3_endpoint,
        CAMPFIRE_THUMBNAIL_WAIT_SECONDS="120",
        **S3_ENV,
    )
    async with aiohttp.ClientSession() as http:
        admin = await login(http, server.url, ADMIN_EMAIL)
        bob_user = await admin.create_user("Bob")
        bob = await login(http, server.url, bob_user["email_address"])
        room = await admin.create_room("s3 files", "closed", [bob.id])
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("file", png(900, 300), filename="wide.png", content_type="text/html")
        async with http.post(
            f"{server.url}/api/rooms/{room['id']}/attachments", data=form, headers=admin.headers
        ) as response:
            assert response.status == 201, await response.text()
            attachment = (await response.json())["attachment"]
        assert attachment["content_type"] == "image/png"
        assert (attachment["width"], attachment["height"]) == (900, 300)

        sender, reader = Client(server.url), Client(server.url)
        try:
            await sender.connect(auth={"token": admin.token})
            await reader.connect(auth={"token": bob.token})
            await sender.synced()
            await reader.synced()
            cmid = str(uuid.uuid4())
            ack = await sender.call(
                "NewMessage",
                {"room_id": room["id"], "content": "", "client_message_id": cmid,
                 "attachment_ids": [attachment["id"]]},
            )  # fmt: skip
            assert ack["type"] == "MessageDelivered", ack
            event = await reader.wait_for(
                "NewMessage", lambda d: d["message"]["client_message_id"] == cmid
            )
            [received] = event["message"]["attachments"]
            assert received["id"] == attachment["id"] and received["width"] == 900
            refused = await sender.call(
                "NewMessage",
                {"room_id": room["id"], "content": "again", "client_message_id": str(uuid.uuid4()),
                 "attachment_ids": [attachment["id"]]},
            )  # fmt: skip
            assert refused["type"] == "MessageError"
            assert refused["data"]["code"] == "invalid_message_format"
        finally:
            await sender.close()
            await reader.close()
        for url in (received["url"], received["thumbnail_url"]):
            async with http.get(server.url + url) as response:
                assert response.status == 200
                body = await response.read()
        assert body[:4] == b"RIFF"  # the WebP thumbnail, read back from the bucket
        async with http.get(server.url + received["url"]) as response:
            assert await response.read() == png(900, 300)
        # The files really are in the bucket, under the configured prefix.
        assert not (server.workdir / "storage").exists()
