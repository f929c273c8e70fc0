"""The chat UI works under its Content-Security-Policy, and the policy is enforced, in Chromium."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import CampfireServer, ChatPage, User

# Installed through DevTools, so it runs whatever the page's policy says.
RECORD_VIOLATIONS = """(() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`);
  });
})();"""


def test_the_ui_runs_under_its_policy_and_inline_script_is_blocked(
    server: CampfireServer, alice: User, browser
) -> None:
    server.create_room(alice, "policed", [])
    context = browser.new_context()
    try:
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        response = page.goto(server.url + "/")
        assert response is not None
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy

        chat = ChatPage(page, alice).sign_in()
        # Live over the websocket (connect-src allows it), not the polling fallback.
        expect(page.locator("#banner")).to_have_attribute("data-state", "connected")
        chat.open_room("policed")
        chat.send("under the policy")
        expect(chat.messages()).to_have_text(["under the policy"])
        assert page.evaluate("window.__violations") == []
        assert not [line for line in console if "Content Security Policy" in line], console
        assert not chat.errors, chat.errors

        # The policy is really in force: a script injected inline does not run.
        page.evaluate(
            """() => {
              const s = document.createElement('script');
              s.textContent = 'window.__inline_ran = true';
              document.head.append(s);
            }"""
        )
        page.wait_for_function("window.__violations.length > 0")
        assert page.evaluate("window.__inline_ran === true") is False
        assert page.evaluate("window.__violations")[0].startswith("script-src")
    finally:
        context.close()
