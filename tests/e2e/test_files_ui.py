"""Files and search in the chat UI (PROTOCOL.md 9.4, 9.5), in headless Chromium.

Alice attaches an image with the button and a document by pasting; the upload shows progress,
the image shows as a preview that opens in a lightbox, the document as a file chip; Bob sees
both. Then Bob searches for an old message of another room and jumps to it in its place.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import CampfireServer


def png_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "PNG")
    return out.getvalue()


@pytest.mark.timeout(300)
def test_attach_an_image_and_find_a_message_by_search(
    server: CampfireServer, open_chat, tmp_path
) -> None:
    alice = server.create_user("Alice")
    bob = server.create_user("Bob")
    server.create_room(alice, "pictures", [bob])
    other = server.create_room(alice, "archive", [bob])
    # An old message far up another room's history, under 80 newer ones.
    server.api(
        "POST", f"/api/rooms/{other['id']}/messages", alice.token,
        {"content": "the quarterly zebrafish report is attached"},
    )  # fmt: skip
    for i in range(80):
        server.api(
            "POST", f"/api/rooms/{other['id']}/messages", alice.token, {"content": f"filler {i}"}
        )

    alice_page, bob_page = open_chat(alice), open_chat(bob)
    a, b = alice_page.page, bob_page.page
    for page in (a, b):
        expect(page.locator("#banner")).to_have_attribute("data-state", "connected")
    alice_page.open_room("pictures")
    bob_page.open_room("pictures")

    # The button: choose an image; it uploads (with progress), then goes with the message.
    image = tmp_path / "sunset.png"
    image.write_bytes(png_bytes(1200, 900))
    with a.expect_file_chooser() as chooser:
        a.click("#attach-button")
    chooser.value.set_files(str(image))
    tray = a.locator("#attach-tray .upload")
    expect(tray).to_have_count(1)
    expect(tray.locator(".upload-name")).to_have_text("sunset.png")
    expect(a.locator("#attach-tray .upload.done")).to_have_count(1)
    alice_page.send("look at this")
    expect(a.locator("#attach-tray")).to_be_hidden()

    # Pasting a file attaches it too; a message may be files alone.
    a.locator("#composer-input").focus()
    a.evaluate(
        """() => {
            const data = new DataTransfer();
            const text = ["minutes of the meeting"];
            data.items.add(new File(text, "minutes.txt", {type: "text/plain"}));
            const event = new ClipboardEvent(
                "paste", {clipboardData: data, bubbles: true, cancelable: true});
            document.getElementById("composer-input").dispatchEvent(event);
        }"""
    )
    expect(a.locator("#attach-tray .upload.done .upload-name")).to_have_text("minutes.txt")
    a.locator("#composer-send").click()

    for page in (a, b):
        sent = page.locator("#message-list .message:not(.pending)", has_text="look at this")
        preview = sent.locator(".attachment-image img")
        expect(preview).to_have_attribute("alt", "sunset.png")
        expect(preview).to_have_js_property("naturalWidth", 800)  # the thumbnail, loaded
        chip = page.locator("#message-list .attachment-file")
        expect(chip.locator(".attachment-name")).to_have_text("minutes.txt")
        expect(chip).to_have_attribute("download", "minutes.txt")

    # The preview opens the full image in a lightbox.
    b.locator("#message-list .attachment-image").first.click()
    expect(b.locator("#lightbox")).to_be_visible()
    expect(b.locator("#lightbox-image")).to_have_js_property("naturalWidth", 1200)
    expect(b.locator("#lightbox-caption")).to_contain_text("1200\u00d7900")
    b.click("#lightbox-close")
    expect(b.locator("#lightbox")).to_be_hidden()

    # A message with files may be edited down to no text at all: the image stays.
    sent = a.locator("#message-list .message:not(.pending)", has_text="look at this")
    sent.hover()
    sent.locator(".edit-message").click()
    editor = a.locator("#message-list .edit-input")
    editor.fill("")
    editor.press("Enter")
    for page in (a, b):
        emptied = page.locator("#message-list .message", has=page.locator("img[alt='sunset.png']"))
        expect(emptied.locator(".edited")).to_have_text("(edited)")
        expect(emptied.locator(".message-content")).to_have_text("")
        expect(emptied.locator(".attachment-image img")).to_have_js_property("naturalWidth", 800)

    # Search: results grouped by room; a result opens its room with the message in view.
    b.fill("#search-input", "zebrafish")
    b.press("#search-input", "Enter")
    results = b.locator("#search-results")
    expect(results.locator(".search-room")).to_have_text(["archive"])
    expect(results.locator(".search-hit .search-text")).to_have_text(
        ["the quarterly zebrafish report is attached"]
    )
    b.locator("#search-results .search-hit").first.click()
    expect(b.locator("#room-name")).to_have_text("archive")
    found = b.locator("#message-list .message.found")
    expect(found.locator(".message-content")).to_have_text(
        "the quarterly zebrafish report is attached"
    )
    expect(found).to_be_in_viewport()
    # A search for files' words finds nothing odd, and the page stays healthy.
    b.fill("#search-input", '"unclosed NEAR *')
    b.press("#search-input", "Enter")
    expect(b.locator("#search-status")).to_contain_text("Nothing found")
    assert not alice_page.errors and not bob_page.errors, alice_page.errors + bob_page.errors
