"""The web chat in a real browser: streaming, stop, reconnect, errors, safety, ratings, layout.

Each test starts a new conversation on the shared server (see conftest.py); replies are chosen
by markers in the message (tests/tgi_server.py) or by scripts queued on the TGI double.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, App, expected_text, sign_in
from tests.tgi_server import Script

pytestmark = pytest.mark.browser

LAST_REPLY = ".msg--assistant >> nth=-1"

# The last reply's state, read in one go in the page (no race between separate reads).
REPLY_STATE_JS = """() => {
  const replies = document.querySelectorAll('.msg--assistant');
  const reply = replies[replies.length - 1];
  if (!reply) return null;
  const stop = document.querySelector('#stop-button');
  return {
    status: reply.dataset.status,
    chip: reply.querySelector('.chip__label').textContent,
    text: reply.querySelector('.msg__text').textContent,
    stopVisible: !stop.hidden && stop.offsetParent !== null,
  };
}"""


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def reply_text(page: Page) -> str:
    return page.locator(LAST_REPLY).locator(".msg__text").text_content() or ""


def wait_partial(page: Page, *, min_chars: int, full: str) -> dict[str, Any]:
    """Wait until the last reply is visibly generating with some, but not all, of its text."""
    handle = page.wait_for_function(
        f"""([minChars, fullLength]) => {{
          const s = ({REPLY_STATE_JS})();
          return s && s.status === 'streaming' && s.text.length >= minChars && s.text.length < fullLength && s;
        }}""",
        arg=[min_chars, len(full)],
    )
    state: dict[str, Any] = handle.json_value()
    assert full.startswith(state["text"]), "streamed text must be a prefix of the reply"
    return state


def conversation_id(page: Page) -> int:
    match = re.search(r"/c/(\d+)/$", page.url)
    assert match, page.url
    return int(match.group(1))


def snapshot(page: Page) -> dict[str, Any]:
    response = page.request.get(f"/api/conversations/{conversation_id(page)}/")
    assert response.ok
    data: dict[str, Any] = response.json()
    return data


def test_sign_in_stream_a_reply_and_reload(anonymous_page: Page, shot: Any) -> None:
    page = anonymous_page
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    shot(page, "01-login-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="How can I help today?")).to_be_visible()
    expect(page.locator("#app")).to_have_attribute("data-connection", "open")
    shot(page, "02-new-conversation")

    full = expected_text(40)
    send(page, "[[tokens:40]] [[rate:12]] Tell me about deep learning")
    expect(page.locator(".msg--user .msg__bubble").last).to_have_text(
        "[[tokens:40]] [[rate:12]] Tell me about deep learning"
    )
    # Intermediate state: generating, Stop offered, part of the text shown.
    state = wait_partial(page, min_chars=20, full=full)
    assert state["chip"] == "Generating" and state["stopVisible"]
    shot(page, "03-streaming")
    later = wait_partial(page, min_chars=len(state["text"]) + 1, full=full)
    assert later["text"].startswith(state["text"])  # grows in place

    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".chip")).to_have_text("Complete")
    assert reply_text(page) == full
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    expect(page.locator(".conversation-link").first).to_have_text(re.compile("Tell me about deep learning"))
    expect(page.locator(".conversation-link").first).to_have_attribute("aria-current", "page")
    shot(page, "04-complete")

    page.reload()
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert reply_text(page) == full
    expect(page.locator(".msg")).to_have_count(2)


def test_enter_sends_and_shift_enter_breaks_the_line(page: Page) -> None:
    box = page.get_by_label("Message", exact=True)
    box.type("[[echo]] first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("[[echo]] first line\nsecond line")
    box.press("Enter")
    expect(box).to_have_value("")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert reply_text(page) == "first line\nsecond line"
    # pre-wrap: the line break is shown as a line break.
    height = page.locator(LAST_REPLY).locator(".msg__text").evaluate("e => e.getBoundingClientRect().height")
    line = page.locator(LAST_REPLY).locator(".msg__text").evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert height >= 1.9 * line


def test_stop_keeps_the_text_shown_so_far(page: Page, shot: Any) -> None:
    full = expected_text(300)
    send(page, "[[tokens:300]] [[rate:15]] A long answer, please")
    wait_partial(page, min_chars=15, full=full)
    page.get_by_role("button", name="Stop").click()
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".chip")).to_have_text("Stopped")
    shown = reply_text(page)
    assert shown and full.startswith(shown) and len(shown) < len(full)
    expect(page.locator("#send-button")).to_be_visible()
    shot(page, "05-stopped")
    # What the page shows is what the server stored.
    stored = snapshot(page)["messages"][-1]
    assert stored["status"] == "stopped"
    assert "".join(s["text"] for s in stored["segments"]) == shown


def test_socket_cut_mid_reply_reconnects_and_shows_the_reply_once(page: Page, app: App, shot: Any) -> None:
    full = expected_text(80)
    send(page, "[[tokens:80]] [[rate:15]] Keep going while the network drops")
    wait_partial(page, min_chars=10, full=full)
    assert page.locator("#app").get_attribute("data-connects") == "1"
    assert not app.tgi.generation_requests[-1].completed  # the cut really is mid-reply

    app.proxy.refuse = True  # an outage: the cut, then no way back for a while
    assert app.proxy.drop_all() >= 1
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    expect(page.locator("#connection")).to_have_text("Reconnecting…")
    shot(page, "06-reconnecting")
    app.proxy.refuse = False

    expect(page.locator("#app")).to_have_attribute("data-connects", "2")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    assert reply_text(page) == full  # every piece once: no gap, no duplicate
    expect(page.locator(".msg")).to_have_count(2)
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    shot(page, "07-reconnected-complete")


def test_reload_mid_reply_resumes_from_the_server(page: Page) -> None:
    full = expected_text(60)
    send(page, "[[tokens:60]] [[rate:15]] Reload while this streams")
    wait_partial(page, min_chars=10, full=full)
    page.reload()
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    assert reply_text(page) == full
    expect(page.locator(".msg")).to_have_count(2)


def test_backend_error_shows_plain_words_and_retry_works(page: Page, app: App, shot: Any) -> None:
    app.tgi.push(Script(status=429))  # TGI's answer when it is overloaded
    send(page, "What are your opening hours?")
    failed = page.locator(".msg--assistant").first
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.locator(".chip")).to_have_text("Failed")
    expect(failed.get_by_role("alert")).to_contain_text("The assistant is busy right now")
    shot(page, "08-failed")

    failed.get_by_role("button", name="Retry").click()
    expect(page.locator(".msg--assistant")).to_have_count(2)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert reply_text(page) == expected_text(24)
    expect(failed.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.locator(".msg--user .msg__bubble").last).to_have_text("What are your opening hours?")
    shot(page, "09-retried")


MARKUP = '<img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script> <b>bold?</b>'


def test_markup_in_text_is_shown_literally(page: Page, shot: Any) -> None:
    send(page, f"[[echo]] {MARKUP}")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert reply_text(page) == MARKUP
    expect(page.locator(".msg--user .msg__bubble").last).to_have_text(f"[[echo]] {MARKUP}")
    expect(page.locator("#messages img, #messages script, #messages b")).to_have_count(0)
    assert page.evaluate("window.__xss") is None
    shot(page, "10-markup-as-text")


def test_rating_is_stored_and_can_be_changed(page: Page, shot: Any) -> None:
    send(page, "[[tokens:12]] Rate me")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    up = reply.get_by_role("button", name="Good reply")
    down = reply.get_by_role("button", name="Bad reply")

    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(reply.get_by_role("status")).to_have_text("Thanks for the feedback.")
    assert snapshot(page)["messages"][-1]["rating"] == {"value": 1, "comment": ""}

    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    reply.get_by_role("button", name="Add a comment").click()
    expect(reply.get_by_label("Tell us more")).to_be_focused()
    reply.get_by_label("Tell us more").fill("It did not answer my question.")
    shot(page, "11-rating-comment")
    reply.get_by_role("button", name="Save comment").click()
    expect(reply.get_by_role("status")).to_have_text("Comment saved. Thank you!")
    expect(reply.get_by_role("button", name="Edit comment")).to_be_visible()
    assert snapshot(page)["messages"][-1]["rating"] == {"value": -1, "comment": "It did not answer my question."}

    page.reload()
    expect(page.locator(LAST_REPLY).get_by_role("button", name="Bad reply")).to_have_attribute("aria-pressed", "true")


def test_held_part_shows_a_placeholder_until_review(page: Page, shot: Any) -> None:
    """Rendering of `held` and `review_resolved` (moderation publishes them); frames are fed
    to the client as if they came from the socket, including a replayed duplicate."""
    frames = [
        {
            "type": "turn_started",
            "seq": 1,
            "user_message_id": 9001,
            "message_id": 9002,
            "user_text": "Can I get a refund?",
        },
        {"type": "delta", "seq": 2, "message_id": 9002, "text": "Let me check our policy. "},
        {"type": "delta", "seq": 2, "message_id": 9002, "text": "Let me check our policy. "},  # replayed
        {
            "type": "held",
            "seq": 3,
            "message_id": 9002,
            "segment": 0,
            "placeholder": "[held for review]",
            "reasons": [{"check": "patterns", "label": "refund_promise", "score": 1.0, "span": [0, 20]}],
        },
        {
            "type": "held",
            "seq": 4,
            "message_id": 9002,
            "segment": 0,
            "placeholder": "[held for review]",
            "reasons": [],
        },  # a later chunk of the same held segment: one placeholder
        {"type": "done", "seq": 5, "message_id": 9002, "status": "held", "finish_reason": "stop", "usage": None},
    ]
    page.evaluate(
        """frames => {
          window.chatApp.state.conversationId = 424242;
          for (const f of frames) window.chatApp.handleFrame({conversation_id: 424242, ...f});
        }""",
        frames,
    )
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "held")
    expect(reply.locator(".chip")).to_have_text("Held for review")
    expect(reply.locator(".seg--held")).to_have_count(1)
    expect(reply.locator(".seg--held")).to_contain_text("Held for review")
    expect(reply.locator(".seg").first).to_have_text("Let me check our policy. ")
    shot(page, "12-held")

    page.evaluate(
        """() => window.chatApp.handleFrame({type: 'review_resolved', conversation_id: 424242, seq: 6,
              message_id: 9002, decision: 'edited', text: 'Refunds are possible within 30 days.'})"""
    )
    expect(reply.locator(".seg--held")).to_have_count(0)
    assert reply_text(page) == "Let me check our policy. Refunds are possible within 30 days."
    expect(reply.locator(".chip")).to_have_text("Reviewed")
    shot(page, "13-review-resolved")


def test_phone_width_and_long_words(phone_page: Page, shot: Any) -> None:
    page = phone_page
    expect(page.locator("#app")).to_have_attribute("data-connection", "open")
    long_word = "Supercalifragilistic" * 12
    send(page, f"[[echo]] {long_word} and some code: print('a very long line of code with no breaks at all')")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    no_sideways_scroll = "() => document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_sideways_scroll)
    bubble = page.locator(LAST_REPLY).locator(".msg__text").bounding_box()
    assert bubble is not None and bubble["x"] + bubble["width"] <= 390
    shot(page, "14-phone")

    page.get_by_role("button", name="Show conversations").click()
    expect(page.locator("#sidebar")).to_be_in_viewport()
    expect(page.locator(".conversation-link").first).to_be_focused()
    shot(page, "15-phone-sidebar")
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    expect(page.get_by_role("button", name="Show conversations")).to_be_focused()


def test_keyboard_only(page: Page, shot: Any) -> None:
    box = page.get_by_label("Message", exact=True)
    expect(box).to_be_focused()  # ready to type on arrival
    box.type("[[tokens:200]] [[rate:15]] Stop me with the keyboard")
    page.keyboard.press("Enter")
    wait_partial(page, min_chars=5, full=expected_text(200))
    page.keyboard.press("Escape")  # Esc in the composer stops the reply
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "stopped")
    # From the composer, Shift+Tab reaches the reply's rating buttons, with a visible focus ring.
    expect(box).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    good = page.locator(LAST_REPLY).get_by_role("button", name="Good reply")
    expect(good).to_be_focused()
    page.keyboard.press("Enter")
    expect(good).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Tab")
    expect(page.locator(LAST_REPLY).get_by_role("button", name="Bad reply")).to_be_focused()
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    shot(page, "16-keyboard-focus")


def test_sign_out(anonymous_page: Page) -> None:
    page = anonymous_page
    sign_in(page)  # its own session: signing out ends the session other tests share
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    assert page.request.get("/api/conversations/").status == 401


def test_newest_text_stays_in_view_unless_the_user_scrolls_up(page: Page) -> None:
    send(page, "[[tokens:500]] [[rate:60]] A reply longer than the screen")
    scroller = page.locator("#scroll")
    page.wait_for_function(
        "() => { const s = document.querySelector('#scroll'); return s.scrollHeight > s.clientHeight + 200; }"
    )
    at_bottom = """() => {
      const s = document.querySelector('#scroll');
      return s.scrollHeight - s.scrollTop - s.clientHeight < 4;
    }"""
    assert page.evaluate(at_bottom)  # followed the stream

    scroller.hover()
    page.mouse.wheel(0, -5000)  # the user scrolls up to read
    page.wait_for_function("() => document.querySelector('#scroll').scrollTop === 0")
    jump = page.get_by_role("button", name="Jump to latest")
    expect(jump).to_be_visible()  # more text arrived below; the view stayed put
    assert page.evaluate("() => document.querySelector('#scroll').scrollTop") == 0
    jump.click()
    page.wait_for_function(at_bottom)
    expect(jump).to_be_hidden()
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "stopped")


def _reviewer_key(app: App) -> str:
    import subprocess
    import sys
    import uuid

    from tests.browser.conftest import ROOT

    name = f"rita-{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", name, "--create-user", "--reviewer"],
        cwd=ROOT, env=app.env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def _api(app: App, key: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import json
    import urllib.request

    request = urllib.request.Request(
        app.direct_url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _review_item_for(app: App, key: str, message_id: int, timeout: float = 10.0) -> dict[str, Any]:
    """The reply's review item, once the server has queued it (bounded, no sleeping)."""
    import time

    deadline = time.monotonic() + timeout
    item: dict[str, Any]
    while time.monotonic() < deadline:
        for item in _api(app, key, "/api/reviews/?status=open&page_size=100")["results"]:
            if item["message"]["id"] == message_id:
                return item
    raise AssertionError(f"no review item for reply {message_id} within {timeout}s")


def test_a_held_reply_turns_into_the_reviewers_text_without_a_reload(page: Page, app: App, shot: Any) -> None:
    """Real moderation and a real review decision: the placeholder becomes the edited text live."""
    send(page, "[[echo]] Happy to help. Claim it at https://refunds-desk.net/start any time.")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "held")
    expect(reply.locator(".seg--held")).to_have_count(1)
    assert "refunds-desk" not in reply_text(page)  # the user's own message shows it, the reply never
    assert reply_text(page).startswith("Happy to help.")
    shot(page, "17-held-real")

    key = _reviewer_key(app)
    message_id = int(reply.get_attribute("data-message-id") or 0)
    item = _review_item_for(app, key, message_id)
    assert "https://refunds-desk.net/start" in item["held_text"]
    decided = _api(
        app,
        key,
        f"/api/reviews/{item['id']}/decision",
        {"decision": "edit", "text": "Write to us at support@example.com."},
    )
    assert decided["status"] == "decided"

    expect(reply.locator(".seg--held")).to_have_count(0)
    expect(reply.locator(".msg__text")).to_have_text(
        re.compile(r"Happy to help\.\s*Write to us at support@example\.com\.")
    )
    expect(reply.locator(".chip")).to_have_text("Reviewed")
    shot(page, "18-reviewed-real")
    page.reload()  # and the server remembers it
    expect(page.locator(LAST_REPLY).locator(".msg__text")).to_contain_text("Write to us at support@example.com.")
