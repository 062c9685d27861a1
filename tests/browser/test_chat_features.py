"""Issue 12 in a real browser: Markdown, reasons, continue/regenerate/edit, conversation
management, held replies people understand, checking, dark mode, busy, error pages."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from typing import Any, Literal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import App, _manage
from tests.browser.test_chat_ui import LAST_REPLY, conversation_id, send, snapshot
from tests.tgi_server import Script

pytestmark = pytest.mark.browser

MARKDOWN = [
    "Here is **bold** and a [link](https://example.com/docs).\n\n",
    "| Name | Qty |\n|---|---|\n| Apple | 3 |\n\n",
    "```python\ndef greet(name):\n    return f'hi {name}'\n```\n",
]
HOSTILE = (
    '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> '
    '[click](javascript:window.__xss=3) <a href="javascript:window.__xss=4" onclick="window.__xss=5">x</a>\n\n'
    "![tracker](https://example.com/pixel.png)"
)


def finished(page: Page) -> Any:
    reply = page.locator(LAST_REPLY)
    expect(reply).not_to_have_attribute("data-status", "streaming")
    return reply


def test_markdown_renders_and_hostile_markup_stays_inert(page: Page, app: App, shot: Any) -> None:
    app.tgi.push(Script(tokens=MARKDOWN, eos=True, rate=20))
    send(page, "Show me some markdown")
    reply = finished(page)
    expect(reply.locator("strong")).to_have_text("bold")
    link = reply.locator("a", has_text="link")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    expect(reply.locator("table td").first).to_have_text("Apple")
    code = reply.locator(".code-block code")
    expect(code).to_contain_text("def greet(name):")
    expect(code.locator(".hljs-keyword").first).to_have_text("def")  # highlighted, by classes
    expect(reply.get_by_role("button", name="Copy code")).to_be_visible()
    expect(reply.get_by_role("button", name="Copy reply")).to_be_visible()
    shot(page, "20-markdown")

    app.tgi.push(Script(tokens=[HOSTILE], eos=True))
    send(page, "Now something hostile")
    reply = finished(page)
    expect(reply.locator("img, script, [onerror], [onclick]")).to_have_count(0)
    assert reply.locator("a[href^='javascript']").count() == 0
    expect(reply.locator(".msg__text")).to_contain_text("<script>window.__xss=2</script>")
    for anchor in reply.locator(".msg__text a").all():
        anchor.click(modifiers=["Control"]) if anchor.get_attribute("href") else anchor.click()
    assert page.evaluate("window.__xss") is None
    shot(page, "21-hostile-inert")


def test_an_over_long_message_shows_its_reason_and_stays_in_the_box(page: Page, shot: Any) -> None:
    box = page.get_by_label("Message", exact=True)
    text = "x" * 4100
    box.fill(text)
    expect(page.locator("#composer-counter")).to_have_text("4,100 / 4,000")
    expect(page.locator("#composer-counter")).to_have_attribute("data-over", "true")
    box.press("Enter")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "refused")
    expect(reply.locator(".notice")).to_contain_text("Your message is too long (4100 characters; the limit is 4000)")
    expect(box).to_have_value(text)
    shot(page, "22-refused-reason")


def test_cut_off_reply_continues_regenerates_and_edits(page: Page, app: App, shot: Any) -> None:
    app.tgi.push(Script(tokens=["Once", " upon", " a"], finish_reason="length"))
    send(page, "Tell me a story")
    reply = finished(page)
    expect(reply.locator(".msg__cut")).to_contain_text("cut off")
    shot(page, "23-cut-off")
    app.tgi.push(Script(tokens=[" time."], eos=True))
    reply.get_by_role("button", name="Continue").click()
    expect(page.locator(".msg--user .msg__bubble").last).to_have_text("Continue")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    expect(page.locator(LAST_REPLY).locator(".msg__text")).to_have_text("time.")
    expect(reply.get_by_role("button", name="Continue")).to_have_count(0)

    app.tgi.push(Script(tokens=["A", " new", " ending."], eos=True))
    page.locator(LAST_REPLY).get_by_role("button", name="Regenerate").click()
    expect(page.locator(LAST_REPLY).locator(".msg__text")).to_have_text("A new ending.")
    expect(page.locator(".msg--assistant:visible")).to_have_count(2)  # the replaced reply is gone
    assert [m["id"] for m in snapshot(page)["messages"]].__len__() == 4

    app.tgi.push(Script(tokens=["Edited", " answer."], eos=True))
    last_user = page.locator(".msg--user:visible").last
    last_user.get_by_role("button", name="Edit").click()
    editor = page.get_by_label("Edit your message")
    editor.fill("Continue, but shorter")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".msg--user:visible .msg__bubble").last).to_have_text("Continue, but shorter")
    expect(page.locator(LAST_REPLY).locator(".msg__text")).to_have_text("Edited answer.")
    texts = [m["segments"][0]["text"] for m in snapshot(page)["messages"] if m["role"] == "user"]
    assert texts == ["Tell me a story", "Continue, but shorter"]
    shot(page, "24-regenerated-edited")


def test_rename_delete_and_search(page: Page, app: App, shot: Any) -> None:
    app.tgi.push(Script(tokens=["Pelicans", " fly."], eos=True))
    send(page, "Tell me about pelicans")
    finished(page)
    cid = conversation_id(page)
    page.once("dialog", lambda dialog: dialog.accept("Bird notes"))
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#chat-title")).to_have_text("Bird notes")
    link = page.locator(f'a[data-conversation-id="{cid}"]')
    expect(link).to_contain_text("Bird notes")

    search = page.get_by_label("Search conversations")
    search.fill("pelicans fly")  # text of the reply
    expect(page.locator(".conversation-link")).to_have_count(1)
    expect(link).to_be_visible()
    search.fill("no such words anywhere")
    expect(page.locator("#search-empty")).to_be_visible()
    shot(page, "25-search-empty")
    search.fill("")
    expect(link).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(f'a[data-conversation-id="{cid}"]')).to_have_count(0)
    response = page.goto(f"/c/{cid}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Back to your conversations")).to_be_visible()
    shot(page, "26-not-found")


def test_held_part_says_when_and_the_decision_is_text_with_a_badge_elsewhere(page: Page, app: App, shot: Any) -> None:
    frames = [
        {"type": "turn_started", "seq": 1, "user_message_id": 9101, "message_id": 9102, "user_text": "Refund?"},
        {"type": "checking", "seq": 2, "message_id": 9102, "pending_chars": 30},
    ]
    page.evaluate(
        """frames => {
          window.chatApp.state.conversationId = 525252;
          for (const f of frames) window.chatApp.handleFrame({conversation_id: 525252, ...f});
        }""",
        frames,
    )
    reply = page.locator(LAST_REPLY)
    expect(reply.locator(".msg__checking")).to_have_text("Writing and checking…")
    shot(page, "27-checking")
    page.evaluate(
        """() => {
          const f = (x) => window.chatApp.handleFrame({conversation_id: 525252, ...x});
          f({type: 'delta', seq: 3, message_id: 9102, text: 'Let me check. '});
          f({type: 'held', seq: 4, message_id: 9102, segment: 0, placeholder: '[held for review]', reasons: []});
          f({type: 'done', seq: 5, message_id: 9102, status: 'held', finish_reason: 'stop', usage: null});
        }"""
    )
    expect(reply.locator(".msg__checking")).to_be_hidden()
    expect(reply.locator(".seg--held")).to_contain_text("usually within 15 minutes")
    expect(reply.get_by_role("button", name="Good reply")).to_be_visible()  # the released sentence
    # The note's title and its hint read as two pieces, not run together ("reviewA person...").
    label = reply.locator(".seg--held .seg__label").bounding_box()
    hint = reply.locator(".seg--held .seg__hint").bounding_box()
    assert label is not None and hint is not None
    assert hint["x"] >= label["x"] + label["width"] + 4 or hint["y"] >= label["y"] + label["height"]
    shot(page, "28-held-with-time")
    page.evaluate(
        """() => window.chatApp.handleFrame({conversation_id: 525252, seq: 6, type: 'review_resolved',
             message_id: 9102, decision: 'rejected', replaces: 'held',
             text: 'Removed by our team. Contact https://support.example.com for help.'})"""
    )
    expect(reply.locator(".msg__outcome")).to_have_text("Replaced by our review team.")
    support = reply.locator(".seg--resolved a")
    expect(support).to_have_attribute("href", "https://support.example.com")
    shot(page, "29-decision-as-text")

    # A decision on another conversation: a badge in the list.
    app.tgi.push(Script(tokens=["Fine."], eos=True))
    page.goto("/")
    send(page, "Another conversation")
    finished(page)
    other = conversation_id(page)
    _manage(
        app.env,
        "shell",
        "-c",
        f"from chat.models import Conversation; from django.utils import timezone; "
        f"Conversation.objects.filter(pk={other}).update(decision_unseen_at=timezone.now())",
    )
    page.goto("/")
    expect(page.locator(f'a[data-conversation-id="{other}"] .conversation-link__badge')).to_have_text("Reviewed")
    shot(page, "30-badge")
    page.goto(f"/c/{other}/")
    expect(page.locator(f'a[data-conversation-id="{other}"] .conversation-link__badge')).to_have_count(0)


def test_a_thumbs_down_with_a_reason_is_reported_to_the_review_team_once(page: Page, app: App, shot: Any) -> None:
    send(page, "[[tokens:12]] Tell me a fact")
    reply = finished(page)
    message_id = int(reply.get_attribute("data-message-id") or 0)
    reply.get_by_role("button", name="Bad reply").click()
    reasons = reply.get_by_role("group", name="What was wrong?")
    expect(reasons).to_be_visible()
    made_up = reasons.get_by_label("Made up")
    made_up.focus()  # by keyboard: a radio button takes Space, the form takes Enter
    made_up.press("Space")
    expect(made_up).to_be_checked()
    shot(page, "33-report-reason")
    reply.get_by_role("button", name="Send to our review team").press("Enter")
    expect(reply.get_by_role("status")).to_have_text("Sent to the review team")
    expect(reasons).to_be_hidden()
    shot(page, "34-report-sent")

    database = app.env["DATABASE_URL"].removeprefix("sqlite:///")
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT source, reasons FROM guardrails_reviewitem WHERE reply_id = ?", (message_id,)
        ).fetchall()
        rating = db.execute("SELECT value, reason FROM chat_rating WHERE message_id = ?", (message_id,)).fetchall()
    assert [row[0] for row in rows] == ["user_report"]
    assert '"made_up"' in rows[0][1]
    assert rating == [(-1, "made_up")]


def test_a_message_with_no_rating_when_only_a_placeholder_shows(page: Page) -> None:
    page.evaluate(
        """() => {
          window.chatApp.state.conversationId = 626262;
          const f = (x) => window.chatApp.handleFrame({conversation_id: 626262, ...x});
          f({type: 'turn_started', seq: 1, user_message_id: 9201, message_id: 9202, user_text: 'Hi'});
          f({type: 'held', seq: 2, message_id: 9202, segment: 0, placeholder: '[held for review]', reasons: []});
          f({type: 'done', seq: 3, message_id: 9202, status: 'held', finish_reason: 'stop', usage: null});
        }"""
    )
    reply = page.locator(LAST_REPLY)
    expect(reply.locator(".seg--held")).to_be_visible()
    expect(reply.get_by_role("group", name="Rate this reply")).to_be_hidden()


def test_a_second_tab_sending_while_a_reply_runs_says_busy(page: Page, app: App) -> None:
    app.tgi.push(Script(tokens=["Slow"] * 200, rate=20, eos=True))
    send(page, "A long one")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "streaming")
    second = page.context.new_page()
    second.goto(page.url)
    expect(second.locator(LAST_REPLY)).to_have_attribute("data-status", "streaming")
    box = second.get_by_label("Message", exact=True)
    box.fill("Me too")
    box.press("Enter")
    expect(second.locator("#banner")).to_contain_text("A reply is still being written")
    expect(box).to_have_value("Me too")
    second.get_by_role("button", name="Stop it").click()
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "stopped")
    second.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screens_light_and_dark_desktop_and_phone(
    page: Page, app: App, shot: Any, scheme: Literal["light", "dark"]
) -> None:
    page.emulate_media(color_scheme=scheme)
    app.tgi.push(Script(tokens=MARKDOWN, eos=True))
    send(page, "Show me some markdown")
    finished(page)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(18, 20, 24)") == (scheme == "dark")
    shot(page, f"31-desktop-{scheme}")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, f"32-phone-{scheme}")


def test_dark_mode_toggle_is_remembered(page: Page) -> None:
    page.emulate_media(color_scheme="light")
    toggle = page.get_by_role("button", name="Dark mode")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.get_by_role("button", name="Dark mode")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Dark mode").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")


def test_esc_hint_is_hidden_on_touch_screens(phone_page: Page, page: Page) -> None:
    expect(phone_page.locator("#composer-hint .composer__keys")).to_be_hidden()
    expect(page.locator("#composer-hint .composer__keys")).to_be_visible()
