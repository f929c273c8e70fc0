"""Editing a message with files to empty content (PROTOCOL.md 9.1 and 9.4): a message with
attachments may have empty content, so an edit may empty it; one without attachments may not
be emptied. Over HTTP and over sockets, against the shared live server."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support import Api, Client, new_id

# The first test to use the shared server starts it: on a loaded machine that alone can take
# most of the default two minutes.
pytestmark = pytest.mark.timeout(300)


async def upload(who: Api, room_id: str, data: bytes, filename: str) -> dict[str, Any]:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    async with who.http.post(
        f"{who.base}/api/rooms/{room_id}/attachments", data=form, headers=who.headers
    ) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["attachment"]


async def send(who: Api, room_id: str, content: str, attachment_ids: list[str]) -> dict[str, Any]:
    body = {"content": content, "attachment_ids": attachment_ids}
    _, data = await who.call("POST", f"/api/rooms/{room_id}/messages", body, expect=201)
    return data["message"]


async def test_http_edit_to_empty_content_only_with_files(user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("files", "closed", [bob.id])
    rid = room["id"]
    attachment = await upload(alice, rid, b"meeting notes\n", "notes.txt")
    with_file = await send(alice, rid, "the notes", [attachment["id"]])
    plain = await send(alice, rid, "just text", [])

    for content in ("", "   "):
        status, data = await alice.call(
            "PATCH", f"/api/rooms/{rid}/messages/{plain['id']}", {"content": content}
        )
        assert (status, data["code"]) == (422, "invalid_message_format"), data
    status, data = await alice.call(
        "PATCH", f"/api/rooms/{rid}/messages/{with_file['id']}", {"content": ""}
    )
    assert status == 200, data
    edited = data["message"]
    assert edited["content"] == "" and edited["edited_at"] is not None and edited["rev"] == 1
    assert [a["id"] for a in edited["attachments"]] == [attachment["id"]]
    # Someone else still may not, and the history shows the emptied message with its file.
    status, data = await bob.call(
        "PATCH", f"/api/rooms/{rid}/messages/{with_file['id']}", {"content": ""}
    )
    assert (status, data["code"]) == (403, "forbidden")
    _, history = await bob.call("GET", f"/api/rooms/{rid}/messages", expect=200)
    by_id = {m["id"]: m for m in history["messages"]}
    assert by_id[with_file["id"]]["content"] == ""
    assert [a["id"] for a in by_id[with_file["id"]]["attachments"]] == [attachment["id"]]
    assert by_id[plain["id"]]["content"] == "just text"


async def test_socket_edit_to_empty_content_only_with_files(server, user_factory) -> None:
    alice, bob = await user_factory("alice"), await user_factory("bob")
    room = await alice.create_room("files", "closed", [bob.id])
    rid = room["id"]
    attachment = await upload(alice, rid, b"%PDF-1.7\n", "report.pdf")
    a, b = Client(server.url), Client(server.url)
    try:
        for client, who in ((a, alice), (b, bob)):
            await client.connect(auth={"token": who.token})
            await client.synced()
        sent = await a.call(
            "NewMessage",
            {"room_id": rid, "content": "report", "client_message_id": new_id(),
             "attachment_ids": [attachment["id"]]},
        )  # fmt: skip
        assert sent["type"] == "MessageDelivered", sent
        with_file = sent["data"]["message_id"]
        plain = await a.call(
            "NewMessage", {"room_id": rid, "content": "text", "client_message_id": new_id()}
        )
        refused = await a.call("EditMessage", {"message_id": plain["data"]["message_id"],
                                               "content": " "})  # fmt: skip
        assert refused["type"] == "Error"
        assert refused["data"]["code"] == "invalid_message_format"

        edit = await a.call("EditMessage", {"message_id": with_file, "content": ""})
        assert edit["type"] == "MessageUpdated", edit
        assert edit["data"]["message"]["content"] == ""
        assert [x["id"] for x in edit["data"]["message"]["attachments"]] == [attachment["id"]]
        update = await b.wait_for("MessageUpdated", lambda d: d["message"]["id"] == with_file)
        assert update["message"]["content"] == "" and update["rev"] == edit["data"]["rev"]
        assert update["message"]["attachments"][0]["filename"] == "report.pdf"
    finally:
        await a.close()
        await b.close()
