"""The review console in a real browser: two agents, a user on a live chat page, one server.

Held replies are made for real: the user's page sends ``[[echo]] … unlisted link …`` and the
guardrails hold it. Each test tags its messages with a unique word and searches the queue
for it, so items of other tests (the server and database are shared) stay out of the way.
Claim lapses: the test moves the claim's start back past ``REVIEW_CLAIM_MINUTES`` in the
database (the server's clock stays real), then lets the other agent take it.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, ROOT, USERNAME, App, _new_page

pytestmark = pytest.mark.browser

LAST_REPLY = ".msg--assistant >> nth=-1"
DESKTOP = {"width": 1280, "height": 820}
PHONE = {"width": 390, "height": 844}


def _manage(app: App, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=app.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _db(app: App) -> sqlite3.Connection:
    return sqlite3.connect(app.env["DATABASE_URL"].removeprefix("sqlite:///"))


@pytest.fixture(scope="module")
def agents(app: App) -> dict[str, str]:
    """Two reviewers made with ``manage.py create_reviewer``: name → password."""
    made = {}
    for name in ("agent_a", "agent_b"):
        out = _manage(app, "create_reviewer", name)
        match = re.search(r"with password: (\S+)", out)
        assert match, out
        made[name] = match.group(1)
    return made


def _console(
    browser: Any, app: App, request: pytest.FixtureRequest, name: str, password: str, **context: Any
) -> Iterator[Page]:
    for page in _new_page(browser, app, request, **context):
        page.goto("/console/")
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/console/$"))
        page.get_by_label("Username").fill(name)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.locator("#console")).to_have_attribute("data-connection", "open")
        yield page


@pytest.fixture
def agent_a(browser: Any, app: App, agents: dict[str, str], request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from _console(browser, app, request, "agent_a", agents["agent_a"], viewport=DESKTOP)


@pytest.fixture
def agent_b(browser: Any, app: App, agents: dict[str, str], request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from _console(browser, app, request, "agent_b", agents["agent_b"], viewport=DESKTOP)


@pytest.fixture
def agent_phone(browser: Any, app: App, agents: dict[str, str], request: pytest.FixtureRequest) -> Iterator[Page]:
    yield from _console(
        browser,
        app,
        request,
        "agent_b",
        agents["agent_b"],
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


def tag() -> str:
    return f"zq{uuid.uuid4().hex[:6]}"


def send_held(page: Page, word: str, extra: str = "") -> None:
    """The user asks; the echoed reply links to a site not on the allow-list, so its sentence is held.

    (Not a phone number: one the user typed may be read back to them.)"""
    replies = page.locator(".msg--assistant")
    before = replies.count()
    box = page.get_by_label("Message", exact=True)
    box.fill(f"[[echo]] Sure, happy to help. Claim it at https://{word}-refunds.net/start {extra}any time.")
    box.press("Enter")
    expect(replies).to_have_count(before + 1)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "held")


def search(console: Page, word: str) -> None:
    """Show only this test's items (and wait until the list is filtered)."""
    console.get_by_label("Search by user or text").fill(word)
    expect(console.locator(".row").filter(has_not_text=word)).to_have_count(0)


def row(console: Page, word: str) -> Any:
    return console.locator(".row", has_text=word)


def test_held_reply_live_in_two_consoles_claim_conflict_and_edit_reaches_the_user(
    page: Page, agent_a: Page, agent_b: Page, shot: Any
) -> None:
    word = tag()
    for console in (agent_a, agent_b):
        search(console, word)
        expect(console.locator("#rows-empty")).to_be_visible()
    send_held(page, word)
    for console in (agent_a, agent_b):  # live: no reload
        expect(row(console, word)).to_have_count(1)
        expect(row(console, word).locator(".reason-chip")).to_have_text([re.compile(r"^patterns · \S+link")])
        expect(row(console, word).locator(".sla")).to_have_text(re.compile(r"\d+:\d\d left"))
    assert re.match(r"\(\d+\) Review console", agent_a.title())

    row(agent_a, word).locator(".row__open").click()
    expect(agent_a.locator(".reply__held .hl")).to_contain_text(f"{word}-refunds.net")
    expect(agent_a.locator(".reason__detail")).to_contain_text(
        re.compile(r"score \d\.\d\d · pattern \S+ v\d+ · chars \d+\u2013\d+")
    )
    expect(agent_a.locator(".turn[data-role='user']")).to_contain_text(word)
    agent_a.get_by_role("button", name="Claim", exact=True).click()
    expect(agent_a.locator(".item__claim")).to_contain_text("Claimed by you")

    expect(row(agent_b, word).locator(".row__claim")).to_have_text("Claimed by agent_a")  # live
    row(agent_b, word).locator(".row__open").click()
    expect(agent_b.locator(".item__blocked")).to_contain_text("agent_a is working on this item")
    for name in ("Approve", "Reject", "Edit", "Claim"):
        expect(agent_b.get_by_role("button", name=name, exact=True)).to_be_disabled()
    shot(agent_b, "console-01-claimed-by-other")

    agent_a.get_by_role("button", name="Edit", exact=True).click()
    editor = agent_a.get_by_label("Text the user will see")
    expect(editor).to_have_value(re.compile(r"-refunds\.net/start"))
    shot(agent_a, "console-02-editing")
    editor.fill("Write to us at support@example.com.")
    agent_a.get_by_role("button", name="Send edited text", exact=True).click()
    expect(agent_a.locator(".decision-text")).to_have_text("Write to us at support@example.com.")

    reply = page.locator(LAST_REPLY)  # the user's open chat page, no reload
    expect(reply.locator(".msg__text")).to_contain_text("Write to us at support@example.com.")
    expect(reply.locator(".seg--held")).to_have_count(0)
    expect(row(agent_b, word)).to_have_count(0)  # decided: gone from the open queue, live
    agent_b.locator(".filter[data-status='decided']").click()
    expect(row(agent_b, word).locator(".row__claim")).to_contain_text("edited by agent_a")
    row(agent_b, word).locator(".row__open").click()
    audit = agent_b.locator(".audit")
    audit.locator("summary").click()
    expect(audit.locator(".audit__verdict")).to_have_text("✓ chain verified")
    expect(audit.locator(".audit__kind")).to_have_text(
        [re.compile(r"queued"), re.compile(r"claim"), re.compile(r"decision")]
    )
    shot(agent_b, "console-03-history-audit")


def test_a_claim_lapses_and_the_other_agent_takes_it(page: Page, agent_a: Page, agent_b: Page, app: App) -> None:
    word = tag()
    send_held(page, word)
    for console in (agent_a, agent_b):
        search(console, word)
        expect(row(console, word)).to_have_count(1)
    row(agent_a, word).locator(".row__open").click()
    agent_a.get_by_role("button", name="Claim", exact=True).click()
    expect(row(agent_b, word).locator(".row__claim")).to_have_text("Claimed by agent_a")
    # Move the clock: the claim started longer ago than REVIEW_CLAIM_MINUTES.
    item_id = int(row(agent_b, word).get_attribute("data-id") or 0)
    with _db(app) as db:
        db.execute(
            "UPDATE guardrails_reviewitem SET claimed_at = datetime(claimed_at, '-1 day') WHERE id = ?", (item_id,)
        )
    row(agent_b, word).locator(".row__open").click()
    expect(agent_b.locator("[data-claim-expires]")).to_have_text("claim lapsed: anyone can take it")
    agent_b.get_by_role("button", name="Claim", exact=True).click()
    expect(agent_b.locator(".item__claim")).to_contain_text("Claimed by you")
    expect(row(agent_a, word).locator(".row__claim")).to_have_text("Claimed by agent_b")  # live
    expect(agent_a.get_by_role("button", name="Approve", exact=True)).to_be_disabled()


def test_bulk_reject_of_three_skips_and_names_a_claimed_one(
    page: Page, agent_a: Page, agent_b: Page, shot: Any
) -> None:
    word = tag()
    for i in range(4):
        send_held(page, f"{word} n{i}")
    for console in (agent_a, agent_b):
        search(console, word)
        expect(console.locator(".row")).to_have_count(4)
    row(agent_b, f"{word} n3").locator(".row__open").click()
    agent_b.get_by_role("button", name="Claim", exact=True).click()
    expect(row(agent_a, f"{word} n3").locator(".row__claim")).to_have_text("Claimed by agent_b")
    agent_a.get_by_label("Select all").check()
    expect(agent_a.locator("#bulk-count")).to_have_text("4 selected")
    shot(agent_a, "console-04-bulk-selected")
    agent_a.get_by_role("button", name="Reject selected", exact=True).click()
    expect(agent_a.locator("#toast")).to_contain_text(re.compile(r"Rejected 3; skipped #\d+ \(claimed by agent_b\)"))
    expect(agent_a.locator(".row")).to_have_count(1)
    rejected = page.locator(".seg--resolved[data-decision='rejected']")
    expect(rejected).to_have_count(3)  # the user's page, live


def test_keyboard_only_next_claim_approve(page: Page, agent_a: Page) -> None:
    word = tag()
    send_held(page, word)
    search(agent_a, word)
    expect(row(agent_a, word)).to_have_count(1)
    agent_a.evaluate("() => document.activeElement.blur()")
    agent_a.keyboard.press("?")
    expect(agent_a.locator("#help")).to_be_visible()
    agent_a.keyboard.press("Escape")
    agent_a.keyboard.press("j")
    expect(row(agent_a, word)).to_have_attribute("aria-current", "true")
    expect(agent_a.locator(".item__title")).to_contain_text(USERNAME)
    agent_a.keyboard.press("c")
    expect(agent_a.locator(".item__claim")).to_contain_text("Claimed by you")
    agent_a.keyboard.press("a")
    expect(agent_a.locator(".decision-text")).to_contain_text(f"https://{word}-refunds.net/start")
    expect(page.locator(LAST_REPLY).locator(".msg__text")).to_contain_text(
        f"Claim it at https://{word}-refunds.net/start"
    )


def test_hostile_held_text_stays_inert(page: Page, agent_a: Page, shot: Any) -> None:
    word = tag()
    agent_a.evaluate("() => { window.__pwned = false; }")
    send_held(page, word, extra='<img src=x onerror="window.__pwned=true"> <b>bold</b> ')
    search(agent_a, word)
    row(agent_a, word).locator(".row__open").click()
    expect(agent_a.locator(".reply")).to_contain_text('<img src=x onerror="window.__pwned=true">')
    assert agent_a.locator("#item-body img, #item-body b, #rows img").count() == 0
    assert agent_a.evaluate("() => window.__pwned") is False
    shot(agent_a, "console-05-hostile-inert")


def test_phone_width(page: Page, agent_phone: Page, shot: Any) -> None:
    word = tag()
    send_held(page, word)
    search(agent_phone, word)
    expect(row(agent_phone, word)).to_have_count(1)
    shot(agent_phone, "console-06-phone-queue")
    assert agent_phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    row(agent_phone, word).locator(".row__open").click()
    expect(agent_phone.locator(".queue")).to_be_hidden()
    expect(agent_phone.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    assert agent_phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    shot(agent_phone, "console-07-phone-item", full_page=True)
    agent_phone.get_by_role("button", name="← Queue", exact=True).click()
    expect(agent_phone.locator(".queue")).to_be_visible()


def test_a_plain_user_gets_403(page: Page) -> None:
    response = page.goto("/console/")
    assert response is not None and response.status == 403
    assert page.request.get("/console/api/items").status == 403


def test_admin_evidence_is_read_only(browser: Any, app: App, request: pytest.FixtureRequest) -> None:
    _manage(
        app,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; U = get_user_model(); "
        f"U.objects.filter(username='boss').exists() or U.objects.create_superuser('boss', password={PASSWORD!r})",
    )
    for admin in _new_page(browser, app, request, viewport=DESKTOP):
        admin.goto("/admin/login/")
        admin.get_by_label("Username").fill("boss")
        admin.get_by_label("Password").fill(PASSWORD)
        admin.get_by_role("button", name="Log in", exact=True).click()
        with _db(app) as db:
            ids = {
                "guardrails/moderationevent": db.execute("SELECT max(id) FROM guardrails_moderationevent").fetchone()[
                    0
                ],
                "review/reviewitem": db.execute("SELECT max(id) FROM guardrails_reviewitem").fetchone()[0],
                "guardrails/auditentry": db.execute("SELECT max(id) FROM guardrails_auditentry").fetchone()[0],
            }
        for model, pk in ids.items():
            assert pk, f"no {model} rows: run with the other console tests"
            admin.goto(f"/admin/{model}/")
            expect(admin.locator("#content")).to_be_visible()
            assert admin.locator("#content a.addlink").count() == 0
            assert admin.locator("select[name='action'] option[value='delete_selected']").count() == 0
            admin.goto(f"/admin/{model}/{pk}/change/")
            assert admin.locator("input[name='_save']").count() == 0
            assert admin.locator("#content a.deletelink").count() == 0
            assert admin.request.get(f"/admin/{model}/{pk}/delete/").status == 403
            assert admin.request.get(f"/admin/{model}/add/").status == 403
