"""Attachments (PROTOCOL.md 9.4) over HTTP against the real app, a real SQLite file and a
local storage folder: uploads, type sniffing, limits, thumbnails, signed URLs, access checks,
messages carrying files, and the orphan sweep."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from app.http.routes import services_key
from app.main import create_app
from tests.files_support import (
    HTML,
    SVG,
    noisy_jpeg,
    noisy_png,
    png,
    png_header_only,
    rotated_jpeg,
    truncated,
)
from tests.http_support import (
    Account,
    AiohttpClient,
    Client,
    Seeded,
    account_fixtures,
    call,
    new_room_id,
    seeded_fixture,
)

seeded = seeded_fixture("attachments")
alice, bob, carol = account_fixtures("alice", "bob", "carol")


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, seeded: Seeded, storage_dir: Path) -> Client:
    # A generous wait for the thumbnail job: the machine running the tests may be busy.
    settings = seeded.settings(storage_dir=str(storage_dir), thumbnail_wait_seconds=120)
    return await aiohttp_client(create_app(settings))


def form(data: bytes, filename: str = "file.bin", content_type: str = "image/png") -> Any:
    # As browsers send it: the name as UTF-8, not percent-encoded.
    body = aiohttp.FormData(quote_fields=False)
    body.add_field("file", data, filename=filename, content_type=content_type)
    return body


async def upload(
    client: Client,
    who: Account,
    room_id: str,
    data: bytes,
    filename: str = "file.bin",
    expect: int | None = 201,
    content_type: str = "image/png",
) -> Any:
    async with client.post(
        f"/api/rooms/{room_id}/attachments",
        data=form(data, filename, content_type),
        headers=who.auth,
    ) as response:
        body = await response.json()
        if expect is not None:
            assert response.status == expect, (response.status, body)
        return body if expect != 201 else body["attachment"]


async def fetch(
    client: Client, url: str, who: Account | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = who.auth if who else {}
    async with client.get(url, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


async def test_a_png_gets_a_thumbnail_width_height_and_safe_headers(
    client: Client, alice: Account
) -> None:
    rid = await new_room_id(client, alice)
    data = png(1600, 1200)
    attachment = await upload(client, alice, rid, data, "holiday.png")
    assert attachment["filename"] == "holiday.png"
    assert attachment["content_type"] == "image/png"
    assert attachment["byte_size"] == len(data)
    assert (attachment["width"], attachment["height"]) == (1600, 1200)
    status, headers, body = await fetch(client, attachment["url"])  # signed: no token needed
    assert status == 200 and body == data
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].startswith("inline")
    status, headers, body = await fetch(client, attachment["thumbnail_url"])
    assert status == 200 and headers["Content-Type"] == "image/webp"
    assert headers["Content-Disposition"].startswith("inline")
    with Image.open(io.BytesIO(body)) as thumb:
        assert thumb.size == (800, 600)


async def test_exif_orientation_is_applied(client: Client, alice: Account) -> None:
    rid = await new_room_id(client, alice)
    attachment = await upload(client, alice, rid, rotated_jpeg(1000, 500), "photo.jpg")
    assert attachment["content_type"] == "image/jpeg"
    assert (attachment["width"], attachment["height"]) == (500, 1000)
    _, _, body = await fetch(client, attachment["thumbnail_url"])
    with Image.open(io.BytesIO(body)) as thumb:
        assert thumb.size == (400, 800)


@pytest.mark.parametrize(
    "data, filename, expected_type",
    [
        (HTML, "cat.png", "text/html"),
        (b"\xef\xbb\xbf \n<HTML><script>alert(1)</script>", "bom.png", "text/html"),
        (b"<body onload=alert(1)>", "body.jpg", "text/html"),
        (SVG, "logo.svg", "image/svg+xml"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "bare.png",
            "image/svg+xml",
        ),
        (b"just some notes\n", "notes.png", "text/plain"),
        (b"%PDF-1.7\n...", "report.pdf", "application/pdf"),
        (bytes(range(256)) * 4, "blob.gif", "application/octet-stream"),
    ],
    ids=[
        "html-named-png",
        "html-after-bom",
        "html-body",
        "svg-with-script",
        "svg-named-png",
        "text",
        "pdf",
        "binary",
    ],
)
async def test_the_type_comes_from_the_bytes_and_only_raster_images_are_inline(
    client: Client, alice: Account, data: bytes, filename: str, expected_type: str
) -> None:
    rid = await new_room_id(client, alice)
    attachment = await upload(client, alice, rid, data, filename, content_type="image/png")
    assert attachment["content_type"] == expected_type
    assert attachment["thumbnail_url"] is None and attachment["width"] is None
    status, headers, body = await fetch(client, attachment["url"])
    assert status == 200 and body == data
    assert headers["Content-Type"] == expected_type
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].startswith("attachment;")
    assert filename in headers["Content-Disposition"]
    assert "sandbox" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none' holds
    # Neither through a bearer token: still a download, never inline, never a thumbnail.
    plain = f"/api/attachments/{attachment['id']}/original"
    status, headers, _ = await fetch(client, plain, alice)
    assert status == 200 and headers["Content-Disposition"].startswith("attachment;")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert (await fetch(client, f"/api/attachments/{attachment['id']}/thumbnail", alice))[0] == 404


@pytest.mark.parametrize(
    "data",
    [png(300, 200)[:200], png_header_only(100_000, 100_000), png_header_only(9000, 9000),
     png_header_only(30000, 30000), truncated(noisy_png()), truncated(noisy_jpeg()),
     b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0garbage", b"GIF89a\xff\xff\xff\xff"],
    ids=["truncated-header", "huge-dimensions", "bomb", "30000x30000-bomb", "truncated-png",
         "truncated-jpeg", "signature-only", "bad-jpeg", "bad-gif"],
)  # fmt: skip
async def test_hostile_images_are_stored_without_a_thumbnail(
    client: Client, alice: Account, data: bytes
) -> None:
    rid = await new_room_id(client, alice)
    attachment = await upload(client, alice, rid, data, "evil.png")
    assert attachment["content_type"].startswith("image/")
    assert attachment["width"] is None and attachment["height"] is None
    assert attachment["thumbnail_url"] is None
    status, headers, body = await fetch(client, attachment["url"])
    assert status == 200 and body == data
    assert headers["Content-Type"] == attachment["content_type"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    # No thumbnail to fetch, even with a valid token.
    thumb = f"/api/attachments/{attachment['id']}/thumbnail"
    assert (await fetch(client, thumb, alice))[0] == 404
    # The server is fine afterwards.
    assert (await upload(client, alice, rid, png(10, 10)))["width"] == 10


async def test_filenames_are_cleaned(client: Client, alice: Account) -> None:
    rid = await new_room_id(client, alice)
    cases = {
        "../../etc/passwd": "passwd",
        "C:\\x\\report.txt": "report.txt",
        "": "file",
        "a\\b/c.txt": "c.txt",
        "..hidden": "hidden",
        "résumé 📄.txt": "résumé 📄.txt",
    }
    for sent, kept in cases.items():
        attachment = await upload(client, alice, rid, b"text", sent)
        assert attachment["filename"] == kept
    status, headers, _ = await fetch(client, attachment["url"])
    assert status == 200
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%F0%9F%93%84.txt" in headers["Content-Disposition"]


async def test_uploads_over_the_limit_are_413(
    aiohttp_client: AiohttpClient, seeded: Seeded, tmp_path: Path, alice: Account
) -> None:
    settings = seeded.settings(storage_dir=str(tmp_path / "s"), max_upload_mb=1)
    client = await aiohttp_client(create_app(settings))
    rid = await new_room_id(client, alice)
    at_limit = b"a" * (1024 * 1024)
    assert (await upload(client, alice, rid, at_limit))["byte_size"] == 1024 * 1024
    data = await upload(client, alice, rid, at_limit + b"b", expect=413)
    assert data["code"] == "invalid_message_format"

    # Without a Content-Length (chunked), the limit is enforced while streaming.
    async def chunked() -> AsyncIterator[bytes]:
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
        for _ in range(40):
            yield b"z" * 65536
        yield b"\r\n--xyz--\r\n"

    headers = {**alice.auth, "Content-Type": "multipart/form-data; boundary=xyz"}
    async with client.post(
        f"/api/rooms/{rid}/attachments", data=chunked(), headers=headers
    ) as response:
        assert response.status == 413
    # Nothing of the refused uploads is left in storage (only the one accepted file).
    stored = [p for p in (tmp_path / "s").rglob("*") if p.is_file()]
    assert len(stored) == 1


@pytest.mark.parametrize(
    "body, content_type, status",
    [(b"{}", "application/json", 422), (b"--b\r\nContent-Disposition: form-data; name=\"x\""
      b"\r\n\r\n1\r\n--b--\r\n", "multipart/form-data; boundary=b", 422)],
    ids=["not-multipart", "no-file-field"],
)  # fmt: skip
async def test_an_upload_that_is_not_a_form_with_a_file_is_422(
    client: Client, alice: Account, body: bytes, content_type: str, status: int
) -> None:
    rid = await new_room_id(client, alice)
    await call(
        client, "POST", f"/api/rooms/{rid}/attachments", alice, data=body,
        headers={"Content-Type": content_type}, expect=status,
    )  # fmt: skip


async def test_only_members_upload_and_only_readers_fetch(
    client: Client, alice: Account, bob: Account, carol: Account
) -> None:
    rid = await new_room_id(client, alice, bob)
    data = await upload(client, carol, rid, b"x", expect=403)
    assert data["code"] == "room_access_denied"
    missing = await upload(client, carol, str(uuid.uuid4()), b"x", expect=404)
    assert missing["code"] == "not_found"
    attachment = await upload(client, alice, rid, png(20, 20), "a.png")
    plain = f"/api/attachments/{attachment['id']}/original"
    # Without a signature: a bearer token of someone who may read the room.
    assert (await fetch(client, plain))[0] == 401
    # Unsent, it is only its uploader's.
    assert (await fetch(client, plain, bob))[0] == 404
    assert (await fetch(client, plain, alice))[0] == 200
    path = f"/api/rooms/{rid}/messages"
    body = {"content": "", "attachment_ids": [attachment["id"]]}
    await call(client, "POST", path, alice, json=body, expect=201)
    assert (await fetch(client, plain, bob))[0] == 200
    assert (await fetch(client, plain, carol))[0] == 403
    status, data = await call(client, "GET", f"/api/attachments/{attachment['id']}", bob)
    assert status == 200 and data["attachment"]["id"] == attachment["id"]
    await call(client, "GET", f"/api/attachments/{attachment['id']}", carol, expect=403)
    await call(client, "GET", f"/api/attachments/{uuid.uuid4()}", bob, expect=404)
    await call(client, "GET", f"/api/attachments/{attachment['id']}/other", bob, expect=404)


def _sign(seeded: Seeded, attachment_id: str, variant: str, expires: int) -> str:
    with sqlite3.connect(seeded.path) as db:
        (value,) = db.execute(
            "SELECT value FROM server_secrets WHERE name = 'attachment_url_key'"
        ).fetchone()
    key = base64.urlsafe_b64decode(value)
    mac = hmac.new(key, f"{attachment_id}/{variant}/{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


async def test_signed_urls_expire_and_cannot_be_altered(
    client: Client, seeded: Seeded, alice: Account
) -> None:
    rid = await new_room_id(client, alice)
    one = await upload(client, alice, rid, png(30, 30), "one.png")
    two = await upload(client, alice, rid, png(40, 40), "two.png")
    url = one["url"]
    path, _, query = url.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    expires = int(params["expires"])
    assert time.time() + 3500 < expires <= time.time() + 3601  # an hour by default
    assert (await fetch(client, url))[0] == 200
    forged = [
        f"{path}?expires={expires + 10}&signature={params['signature']}",  # later expiry
        f"{path}?expires={expires}&signature={params['signature'][:-2]}AA",
        f"/api/attachments/{two['id']}/original?{query}",  # another file
        f"{path.replace('original', 'thumbnail')}?{query}",  # the other variant
        f"{path}?expires={expires}",
        f"{path}?signature={params['signature']}",
        f"{path}?expires=abc&signature={params['signature']}",
        f"{path}?expires={expires}&signature=%F0%9F%94%A5",
    ]
    for bad in forged:
        status, _, _ = await fetch(client, bad)
        assert status == 403, bad
    past = int(time.time()) - 5
    expired = f"{path}?expires={past}&signature={_sign(seeded, one['id'], 'original', past)}"
    assert (await fetch(client, expired))[0] == 403
    # The same signature scheme with a future expiry works: only the expiry was refused.
    future = int(time.time()) + 60
    fine = f"{path}?expires={future}&signature={_sign(seeded, one['id'], 'original', future)}"
    assert (await fetch(client, fine))[0] == 200
    # A bearer token with room access still opens an expired link.
    assert (await fetch(client, expired, alice))[0] == 200


async def send(client: Client, who: Account, room_id: str, body: dict[str, Any]) -> Any:
    return await call(client, "POST", f"/api/rooms/{room_id}/messages", who, json=body)


async def test_messages_carry_attachments(client: Client, alice: Account, bob: Account) -> None:
    rid = await new_room_id(client, alice, bob)
    other_room = await new_room_id(client, alice, bob)
    files = [await upload(client, alice, rid, png(50 + i, 50), f"{i}.png") for i in range(3)]
    ids = [f["id"] for f in files]
    status, data = await send(client, alice, rid, {"content": "", "attachment_ids": ids[1:]})
    assert status == 201, data
    message = data["message"]
    assert message["content"] == ""
    assert [a["id"] for a in message["attachments"]] == ids[1:]  # in the order given
    assert message["attachments"][0]["width"] == 51
    history = await call(client, "GET", f"/api/rooms/{rid}/messages", bob, expect=200)
    assert [a["id"] for a in history[1]["messages"][-1]["attachments"]] == ids[1:]
    # Used already, someone else's, another room's, unknown: refused, nothing stored.
    mine_in_other = await upload(client, alice, other_room, b"x")
    bobs = await upload(client, bob, rid, b"x")
    for bad_ids, code in [
        ([ids[1]], "invalid_message_format"),
        ([bobs["id"]], "not_found"),
        ([mine_in_other["id"]], "not_found"),
        ([str(uuid.uuid4())], "not_found"),
        ([ids[0], ids[2]], "invalid_message_format"),
    ]:
        status, data = await send(client, alice, rid, {"content": "x", "attachment_ids": bad_ids})
        assert (status, data["code"]) in {(404, code), (422, code)}, (bad_ids, data)
    # The failed sends did not take the unused one.
    status, data = await send(client, alice, rid, {"content": "last", "attachment_ids": ids[:1]})
    assert status == 201 and data["message"]["attachments"][0]["id"] == ids[0]
    history = await call(client, "GET", f"/api/rooms/{rid}/messages", bob, expect=200)
    assert [m["content"] for m in history[1]["messages"]] == ["", "last"]
    # Blank content without files, and more than 10 files, are refused.
    status, data = await send(client, alice, rid, {"content": " ", "attachment_ids": []})
    assert status == 422
    many = [str(uuid.uuid4()) for _ in range(11)]
    status, data = await send(client, alice, rid, {"content": "x", "attachment_ids": many})
    assert status == 422


async def test_orphans_are_swept_and_room_files_removed(
    client: Client, alice: Account, storage_dir: Path, seeded: Seeded
) -> None:
    rid = await new_room_id(client, alice)
    old = await upload(client, alice, rid, png(20, 20), "old.png")
    fresh = await upload(client, alice, rid, b"fresh")
    sent = await upload(client, alice, rid, b"sent")
    await send(client, alice, rid, {"content": "with file", "attachment_ids": [sent["id"]]})
    with sqlite3.connect(seeded.path) as db:
        db.execute(
            "UPDATE attachments SET created_at = '2020-01-01 00:00:00.000000' WHERE id IN (?, ?)",
            (old["id"], sent["id"]),
        )
    services = client.app[services_key]
    assert await services.attachments.sweep_orphans() == 1
    assert not (storage_dir / f"rooms/{rid}/{old['id']}").exists() or not any(
        (storage_dir / f"rooms/{rid}/{old['id']}").iterdir()
    )
    assert (await fetch(client, old["url"]))[0] == 404
    assert (await fetch(client, fresh["url"]))[0] == 200
    assert (await fetch(client, sent["url"]))[0] == 200
    assert await services.attachments.remove_room_files(rid) == 2
    assert not (storage_dir / f"rooms/{rid}").exists()
    assert (await fetch(client, sent["url"]))[0] == 404


async def test_deleting_a_message_removes_its_files(
    client: Client, alice: Account, bob: Account, storage_dir: Path
) -> None:
    rid = await new_room_id(client, alice, bob)
    first = await upload(client, alice, rid, png(60, 40), "gone.png")
    second = await upload(client, alice, rid, b"notes")
    other = await upload(client, alice, rid, b"stays")
    status, data = await send(
        client, alice, rid, {"content": "two files", "attachment_ids": [first["id"], second["id"]]}
    )
    assert status == 201
    mid = data["message"]["id"]
    status, _ = await send(client, alice, rid, {"content": "one", "attachment_ids": [other["id"]]})
    assert status == 201
    assert (storage_dir / f"rooms/{rid}/{first['id']}/thumbnail").is_file()
    await call(client, "DELETE", f"/api/rooms/{rid}/messages/{mid}", alice, expect=204)
    for attachment in (first, second):
        assert (await fetch(client, attachment["url"]))[0] == 404
        assert not (storage_dir / f"rooms/{rid}/{attachment['id']}/original").exists()
    assert not (storage_dir / f"rooms/{rid}/{first['id']}/thumbnail").exists()
    history = await call(client, "GET", f"/api/rooms/{rid}/messages", bob, expect=200)
    tombstone, survivor = history[1]["messages"]
    assert tombstone["deleted"] is True and tombstone["attachments"] == []
    assert [a["id"] for a in survivor["attachments"]] == [other["id"]]
    assert (await fetch(client, survivor["attachments"][0]["url"]))[0] == 200


async def test_deleting_a_room_removes_its_files(
    client: Client, alice: Account, bob: Account, storage_dir: Path
) -> None:
    rid = await new_room_id(client, alice, bob)
    sent = await upload(client, alice, rid, png(30, 30), "shared.png")
    unsent = await upload(client, alice, rid, b"draft")
    status, _ = await send(client, alice, rid, {"content": "pic", "attachment_ids": [sent["id"]]})
    assert status == 201
    assert (await fetch(client, sent["url"]))[0] == 200
    await call(client, "DELETE", f"/api/rooms/{rid}", alice, expect=204)
    for attachment in (sent, unsent):
        assert (await fetch(client, attachment["url"]))[0] == 404
    assert not (storage_dir / f"rooms/{rid}").exists()
