"""The pages work under their Content-Security-Policy: nothing is refused in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import App, expected_text
from tests.tgi_server import Script

pytestmark = pytest.mark.browser

# Runs before the page's own scripts (injected by the browser, so the policy does not apply to
# it): every violation the page would raise is kept for the test to read.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def watch(page: Page) -> list[str]:
    """Console messages about the policy (Chromium logs each refusal as an error)."""
    page.add_init_script(RECORD_VIOLATIONS)
    messages: list[str] = []
    page.on(
        "console",
        lambda msg: messages.append(msg.text) if "Content Security Policy" in msg.text or msg.type == "error" else None,
    )
    return messages


def test_the_chat_page_streams_a_reply_with_no_policy_violation(page: Page, app: App) -> None:
    console = watch(page)
    response = page.reload()
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    expect(page.locator("#app")).to_have_attribute("data-connection", "open")  # the WebSocket is allowed

    app.tgi.push(Script(n_tokens=8))
    box = page.get_by_label("Message", exact=True)
    box.fill("Hello under a strict policy")
    box.press("Enter")
    reply = page.locator(".msg--assistant >> nth=-1")
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".msg__text")).to_have_text(expected_text(8))

    violations: list[Any] = page.evaluate("window.__cspViolations")
    assert violations == [] and console == []


def test_the_sign_in_page_has_no_policy_violation(anonymous_page: Page) -> None:
    console = watch(anonymous_page)
    anonymous_page.goto("/accounts/login/")
    expect(anonymous_page.get_by_role("button", name="Sign in")).to_be_visible()
    assert anonymous_page.evaluate("window.__cspViolations") == [] and console == []
