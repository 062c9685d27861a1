"""The support-agent console: the reviewer command, claim time boxes, notes, the queue's JSON,
bulk decisions, the header's numbers and the console socket."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from guardrails.models import AuditEntry
from review import services as review
from review.models import ReviewItem, ReviewNote
from review.services import ReviewConflict
from tests.review.conftest import make_reply

pytestmark = pytest.mark.django_db


# --- create_reviewer -------------------------------------------------------------------------


def test_create_reviewer_prints_a_password_once_and_grants_the_permission() -> None:
    out = StringIO()
    call_command("create_reviewer", "rhea", stdout=out)
    password = re.search(r"with password: (\S+)", out.getvalue())
    assert password
    user = get_user_model().objects.get(username="rhea")
    assert user.check_password(password.group(1)) and user.has_perm(review.REVIEW_PERMISSION)
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_reviewer", "rhea", stdout=StringIO())
    again = StringIO()
    call_command("create_reviewer", "rhea", "--if-missing", stdout=again)
    assert "password:" not in again.getvalue() and "exists" in again.getvalue()
    assert get_user_model().objects.get(username="rhea").check_password(password.group(1))


# --- claims lapse ----------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The review loop's clock, moved by the test."""

    class Clock:
        at = timezone.now()

        def move(self, **delta: float) -> None:
            self.at += timedelta(**delta)

    c = Clock()
    monkeypatch.setattr(review, "now", lambda: c.at)
    return c


def test_a_claim_lapses_after_inactivity_and_another_reviewer_can_take_it(
    held_reply: Any, reviewer: Any, reviewer2: Any, clock: Any, settings: Any
) -> None:
    settings.REVIEW_CLAIM_MINUTES = 10
    item = review.review_item_create(message_id=held_reply.pk)
    review.review_item_claim(item_id=item.pk, user=reviewer)
    clock.move(minutes=9)
    with pytest.raises(ReviewConflict) as refused:
        review.review_item_claim(item_id=item.pk, user=reviewer2)
    assert refused.value.code == "claimed"
    review.review_note_add(item_id=item.pk, user=reviewer, text="checking the number")  # activity
    clock.move(minutes=9)
    with pytest.raises(ReviewConflict):
        review.review_item_decide(item_id=item.pk, user=reviewer2, decision="rejected")
    clock.move(minutes=2)
    taken = review.review_item_claim(item_id=item.pk, user=reviewer2)
    assert taken.claimed_by == reviewer2
    kinds = list(AuditEntry.objects.filter(subject=f"review_item:{item.pk}").values_list("kind", "actor"))
    assert [k for k, _ in kinds] == ["queued", "claim", review.AUDIT_NOTE, review.AUDIT_CLAIM_LAPSED, "claim"]
    assert kinds[3][1] == "system"


def test_the_sweep_releases_lapsed_claims(held_reply: Any, reviewer: Any, clock: Any, settings: Any) -> None:
    settings.REVIEW_CLAIM_MINUTES = 5
    item = review.review_item_create(message_id=held_reply.pk)
    review.review_item_claim(item_id=item.pk, user=reviewer)
    assert review.review_claims_lapse() == 0
    clock.move(minutes=5)
    assert review.review_claims_lapse() == 1
    item.refresh_from_db()
    assert item.status == "pending" and item.claimed_by is None


def test_notes_are_several_with_author_and_time_and_audited(held_reply: Any, reviewer: Any, reviewer2: Any) -> None:
    item = review.review_item_create(message_id=held_reply.pk)
    review.review_note_add(item_id=item.pk, user=reviewer, text="  first  ")
    review.review_note_add(item_id=item.pk, user=reviewer2, text="second")
    notes = list(ReviewNote.objects.filter(item=item))
    assert [(n.author, n.text) for n in notes] == [(reviewer, "first"), (reviewer2, "second")]
    assert AuditEntry.objects.filter(kind=review.AUDIT_NOTE).count() == 2
    with pytest.raises(review.ReviewInvalid):
        review.review_note_add(item_id=item.pk, user=reviewer, text="   ")


# --- who may use the console ---------------------------------------------------------------


def test_console_page_needs_a_reviewer(client: Any, alice: Any, reviewer: Any) -> None:
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/console/")
    assert client.get("/console/api/items").status_code == 401
    client.force_login(alice)
    assert client.get("/console/").status_code == 403
    assert client.get("/console/api/items").status_code == 403
    client.force_login(reviewer)
    page = client.get("/console/")
    assert page.status_code == 200 and b'src="/static/console/page.mjs"' in page.content


def test_console_posts_need_csrf(reviewer: Any, held_reply: Any) -> None:
    from django.test import Client

    item = review.review_item_create(message_id=held_reply.pk)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(reviewer)
    url = f"/console/api/items/{item.pk}/notes"
    assert browser.post(url, {"text": "x"}, content_type="application/json").status_code == 403
    assert (
        browser.post(
            "/console/api/bulk", {"ids": [item.pk], "decision": "rejected"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert browser.post(f"/api/reviews/{item.pk}/claim").status_code == 403
    assert not ReviewNote.objects.exists() and ReviewItem.objects.get().status == "pending"


# --- the queue -------------------------------------------------------------------------------


def _rows(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get("/console/api/items", params)
    assert response.status_code == 200, response.content
    data: dict[str, Any] = response.json()
    return data


def test_queue_rows_sorted_by_deadline_with_filters_and_search(
    client: Any, alice: Any, bob: Any, reviewer: Any, reviewer2: Any
) -> None:
    t0 = timezone.now()
    late = review.review_item_create(message_id=make_reply(alice).pk, now=t0 - timedelta(minutes=30))
    soon = review.review_item_create(
        message_id=make_reply(bob, check="toxicity", label="insult", held_text="You absolute fool.").pk,
        now=t0 - timedelta(minutes=5),
    )
    fresh = review.review_item_create(message_id=make_reply(alice, label="email", held_text="Mail a@b.co").pk, now=t0)
    review.review_item_claim(item_id=soon.pk, user=reviewer2)
    client.force_login(reviewer)

    data = _rows(client)
    assert [r["id"] for r in data["results"]] == [late.pk, soon.pk, fresh.pk]
    first = data["results"][0]
    assert first["user"] == "alice" and first["excerpt"] == "Call us at +1 415 555 0100."
    assert first["reasons"] == [{"check": "patterns", "label": "phone_number", "pattern": "phone_number"}]
    assert data["results"][1]["claimed_by"] == "rob" and data["results"][1]["claim_expires_at"]
    assert data["stats"]["queue_depth"] == 3 and data["stats"]["oldest_age_s"] >= 30 * 60

    def ids(**params: str) -> list[int]:
        return [r["id"] for r in _rows(client, **params)["results"]]

    assert ids(status="pending") == [late.pk, fresh.pk]
    assert ids(status="claimed") == [soon.pk]
    assert ids(status="mine") == []
    assert ids(status="overdue") == [late.pk]  # past its 15 min SLA, escalation task or not
    assert ids(check="toxicity") == [soon.pk]
    assert ids(pattern="email") == [fresh.pk]
    assert ids(q="bob") == [soon.pk]
    assert ids(q="a@b.co") == [fresh.pk]
    review.review_item_decide(item_id=late.pk, user=reviewer, decision="approved")
    history = _rows(client, status="decided")["results"]
    assert [(r["id"], r["decision"], r["decided_by"]) for r in history] == [(late.pk, "approved", "rita")]
    assert history[0]["decided_in_s"] >= 30 * 60
    assert client.get("/console/api/items", {"status": "nope"}).status_code == 400


def test_five_thousand_pending_load_a_page_in_a_fixed_number_of_queries(
    client: Any, alice: Any, reviewer: Any, django_assert_max_num_queries: Any
) -> None:
    reply = make_reply(alice)
    item = review.review_item_create(message_id=reply.pk)
    template = {f.attname: getattr(item, f.attname) for f in ReviewItem._meta.concrete_fields if f.attname != "id"}
    from chat.models import Message

    replies = Message.objects.bulk_create(
        [
            Message(conversation=reply.conversation, role="assistant", text=f"held {i}", segments=reply.segments)
            for i in range(4999)
        ]
    )
    ReviewItem.objects.bulk_create([ReviewItem(**{**template, "reply_id": m.pk}) for m in replies])
    client.force_login(reviewer)
    with django_assert_max_num_queries(12):
        data = _rows(client)
    assert data["count"] == 5000 and len(data["results"]) == 50 and data["pages"] == 100


# --- one item, notes, bulk, stats --------------------------------------------------------------


def test_item_json_has_context_reasons_notes_and_a_verified_audit_trail(
    client: Any, held_reply: Any, reviewer: Any
) -> None:
    item = review.review_item_create(message_id=held_reply.pk)
    client.force_login(reviewer)
    response = client.post(
        f"/console/api/items/{item.pk}/notes", {"text": "looks like our number"}, content_type="application/json"
    )
    assert response.status_code == 200
    data = response.json()
    assert [c["role"] for c in data["context"]] == ["user"]
    assert data["held_text"] == "Call us at +1 415 555 0100."
    (reason,) = data["reasons"]
    assert {"check", "label", "score", "span", "pattern", "pattern_version"} <= set(reason)
    assert [(n["author"], n["text"]) for n in data["notes"]] == [("rita", "looks like our number")]
    assert data["audit"]["verified"] is True
    assert [e["kind"] for e in data["audit"]["entries"]] == ["queued", "note"]


def test_bulk_decides_each_and_names_the_items_claimed_by_someone_else(
    client: Any, alice: Any, reviewer: Any, reviewer2: Any
) -> None:
    items = [review.review_item_create(message_id=make_reply(alice).pk) for _ in range(4)]
    review.review_item_claim(item_id=items[1].pk, user=reviewer2)
    client.force_login(reviewer)
    response = client.post(
        "/console/api/bulk", {"ids": [i.pk for i in items], "decision": "rejected"}, content_type="application/json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["decided"] == [items[0].pk, items[2].pk, items[3].pk]
    assert [(s["id"], s["code"], s["claimed_by"]) for s in body["skipped"]] == [(items[1].pk, "claimed", "rob")]
    assert AuditEntry.objects.filter(kind="decision").count() == 3
    assert (
        client.post(
            "/console/api/bulk", {"ids": [items[1].pk], "decision": "edited"}, content_type="application/json"
        ).status_code
        == 400
    )


def test_stats_median_today_and_overturn_rates(client: Any, alice: Any, reviewer: Any) -> None:
    items = [review.review_item_create(message_id=make_reply(alice).pk) for _ in range(3)]
    toxic = review.review_item_create(message_id=make_reply(alice, check="toxicity", label="insult").pk)
    review.review_item_decide(item_id=items[0].pk, user=reviewer, decision="approved")
    review.review_item_decide(item_id=items[1].pk, user=reviewer, decision="rejected")
    review.review_item_decide(item_id=toxic.pk, user=reviewer, decision="edited", text="Kindly, no.")
    client.force_login(reviewer)
    stats = client.get("/console/api/stats").json()
    assert stats["queue_depth"] == 1 and stats["decided_today"] == 3 and stats["median_decision_s_today"] >= 0
    rates = {(r["check"], r["name"]): (r["decided"], r["overturned"]) for r in stats["overturn"]}
    assert rates == {("patterns", "phone_number"): (2, 1), ("toxicity", "insult"): (1, 1)}
