"""A fresh install, only through the browser: first run, the join link, a second person signs up,
and the two talk in a direct conversation; then the room directory, profile and admin page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, WAIT_MS, CampfireServer


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[CampfireServer]:
    server = CampfireServer(tmp_path / "campfire")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def new_page(browser: Any, errors: list[str]) -> Any:
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def sign_up(page: Any, form: str, name: str, email: str) -> None:
    page.fill(f"#{form}-name", name)
    page.fill(f"#{form}-email", email)
    page.fill(f"#{form}-password", PASSWORD)
    page.click(f"#{form}-submit")
    page.wait_for_selector("#chat:not([hidden])")


def test_first_run_join_link_and_a_direct_message(empty_server: CampfireServer, browser) -> None:
    errors: list[str] = []
    ada = new_page(browser, errors)
    ada.goto(empty_server.url + "/")
    # An empty install shows the first-run form instead of sign-in.
    expect(ada.locator("#setup-form")).to_be_visible()
    expect(ada.locator("#signin")).to_be_hidden()
    sign_up(ada, "setup", "Ada", "ada@example.com")
    expect(ada.locator("#room-list .room-button", has_text="All Talk")).to_be_visible()
    expect(ada.locator("#room-name")).to_have_text("All Talk")

    # The admin page has the join link.
    ada.click("#open-admin")
    link = ada.locator("#join-link")
    expect(link).to_have_value(empty_server.url + "/join/" + link.input_value().rsplit("/", 1)[1])
    join_url = link.input_value()
    ada.click("#admin-dialog .dialog-close")

    # Bob opens the link, signs up, and lands in All Talk.
    bob = new_page(browser, errors)
    bob.goto(join_url)
    expect(bob.locator("#join-form")).to_be_visible()
    sign_up(bob, "join", "Bob", "bob@example.com")
    expect(bob.locator("#room-list .room-button", has_text="All Talk")).to_be_visible()
    assert bob.evaluate("location.pathname") == "/"

    # Bob starts a direct conversation from Ada's name and writes to her.
    bob.click("#open-people")
    bob.locator("#people-dialog .directory-item", has_text="Ada").locator(".person-message").click()
    expect(bob.locator("#room-name")).to_have_text("Bob & Ada")
    bob.locator("#composer-input").fill("Hi Ada, thanks for the invite")
    bob.locator("#composer-input").press("Enter")

    # Ada gets the conversation live and reads it; she answers.
    ada.locator("#room-list .room-button", has_text="Bob & Ada").click()
    expect(ada.locator("#message-list .message:not(.pending) .message-content")).to_have_text(
        ["Hi Ada, thanks for the invite"]
    )
    ada.locator("#composer-input").fill("Welcome, Bob!")
    ada.locator("#composer-input").press("Enter")
    expect(bob.locator("#message-list .message:not(.pending) .message-content")).to_have_text(
        ["Hi Ada, thanks for the invite", "Welcome, Bob!"]
    )
    # Asking again for the same conversation opens the same room (no duplicate).
    ada.locator("#member-list li[data-user-id] button.member-name", has_text="Bob").click()
    expect(ada.locator("#room-list .room-button", has_text="Bob & Ada")).to_have_count(1)

    # The room directory: Bob finds Ada's new open room and joins it.
    ada.fill("#create-room-name", "Watercooler")
    ada.click("#create-room-submit")
    expect(ada.locator("#room-name")).to_have_text("Watercooler")
    bob.click("#open-directory")
    item = bob.locator("#room-directory .directory-item", has_text="Watercooler")
    item.locator(".directory-join").click()
    expect(bob.locator("#room-name")).to_have_text("Watercooler")

    # Profile: Bob renames himself; Ada sees the new name.
    bob.click("#open-profile")
    bob.fill("#profile-name", "Robert")
    bob.click("#profile-save")
    expect(bob.locator("#me-name")).to_have_text("Robert")
    bob.click("#profile-dialog .dialog-close")
    expect(ada.locator("#member-list", has_text="Robert")).to_be_visible()

    # Deactivation from the admin page signs Bob out.
    ada.once("dialog", lambda d: d.accept())
    ada.click("#open-admin")
    ada.locator("#admin-people tr", has_text="Robert").locator(".admin-deactivate").click()
    expect(bob.locator("#signin")).to_be_visible()
    expect(bob.locator("#signin-notice")).to_be_visible()
    assert not errors, errors
