"""The review services: one item per reply, claims, decisions, escalation, expiry, audit."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from chat.models import Event, Message
from chat.signals import reply_needs_review
from config.celery import app as celery_app
from guardrails.audit import audit_verify
from guardrails.models import AuditEntry
from review import services as review
from review import tasks
from review.models import ReviewItem
from review.services import ReviewConflict, ReviewForbidden, ReviewInvalid, ReviewNotFound
from tests.review.conftest import HELD_TEXT, RELEASED_TEXT, make_reply

pytestmark = pytest.mark.django_db


def last_event(reply: Message) -> dict[str, Any]:
    event = Event.objects.filter(conversation_id=reply.conversation_id).order_by("-seq").first()
    assert event is not None
    payload: dict[str, Any] = event.payload
    return payload


# --- queueing -------------------------------------------------------------------------------


def test_create_is_idempotent_with_priority_deadline_and_reasons(held_reply: Message, settings: Any) -> None:
    settings.REVIEW_SLA_MINUTES = 7
    now = timezone.now()
    item = review.review_item_create(message_id=held_reply.pk, now=now)
    again = review.review_item_create(message_id=held_reply.pk, now=now + timedelta(minutes=1))
    assert again.pk == item.pk and ReviewItem.objects.count() == 1
    assert item.status == "pending" and item.severity == "hold"
    assert item.sla_deadline == now + timedelta(minutes=7)
    (reason,) = item.reasons
    assert reason["check"] == "patterns" and reason["label"] == "phone_number"
    assert reason["span"] == [len(RELEASED_TEXT), len(RELEASED_TEXT) + len(HELD_TEXT)]
    assert AuditEntry.objects.filter(kind="queued").count() == 1


def test_priority_orders_hold_before_flag_and_toxicity_before_patterns(alice: Any) -> None:
    flag_pattern = review.review_item_create(message_id=make_reply(alice, severity="flag").pk)
    hold_pattern = review.review_item_create(message_id=make_reply(alice).pk)
    hold_toxic = review.review_item_create(
        message_id=make_reply(alice, check="toxicity", label="insult", held_text="You fool.").pk
    )
    flag_toxic = review.review_item_create(
        message_id=make_reply(alice, check="toxicity", label="insult", severity="flag").pk
    )
    assert hold_toxic.priority > hold_pattern.priority > flag_toxic.priority > flag_pattern.priority
    assert flag_pattern.severity == "flag"


def test_task_adapter_runs_the_service_and_ignores_a_missing_reply(held_reply: Message) -> None:
    assert celery_app.conf.task_always_eager  # tests/conftest.py: tasks run in-process
    assert tasks.queue_review.delay(held_reply.pk).get() == ReviewItem.objects.get().pk
    assert tasks.queue_review.delay(held_reply.pk).get() == ReviewItem.objects.get().pk
    assert tasks.queue_review.delay(10**9).get() is None
    assert ReviewItem.objects.count() == 1


def test_tasks_queued_under_their_old_names_still_run(held_reply: Message) -> None:
    # Messages a broker still holds from before the review app (and an old beat schedule).
    assert celery_app.tasks["guardrails.tasks.queue_review"].delay(held_reply.pk).get() == ReviewItem.objects.get().pk
    assert celery_app.tasks["guardrails.tasks.escalate_reviews"].delay().get() == {
        "recovered": 0,
        "expired": 0,
        "overdue": 0,
        "lapsed": 0,
    }
    assert ReviewItem.objects.count() == 1


def test_task_options_keep_work_when_a_worker_dies() -> None:
    for task in (tasks.queue_review, tasks.escalate_reviews, tasks.queue_review_legacy, tasks.escalate_reviews_legacy):
        assert task.acks_late and task.reject_on_worker_lost
        assert task.autoretry_for and task.retry_backoff  # type: ignore[union-attr]  # celery-types' Task lacks the autoretry options


def test_queued_on_commit_reaches_reviewers(held_reply: Message, django_capture_on_commit_callbacks: Any) -> None:
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(review.REVIEWERS_GROUP, channel)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        item = review.review_item_create(message_id=held_reply.pk)
    assert len(callbacks) == 1
    message = async_to_sync(asyncio.wait_for)(layer.receive(channel), 5)
    assert message["type"] == "review.item" and message["event"] == "created"
    assert message["item"]["id"] == item.pk and message["item"]["reply_id"] == held_reply.pk


# --- claims ---------------------------------------------------------------------------------


def test_claim_rules(held_reply: Message, reviewer: Any, reviewer2: Any) -> None:
    item = review.review_item_create(message_id=held_reply.pk)
    review.review_item_claim(item_id=item.pk, user=reviewer)
    assert review.review_item_claim(item_id=item.pk, user=reviewer).claimed_by == reviewer  # no-op
    with pytest.raises(ReviewConflict) as taken:
        review.review_item_claim(item_id=item.pk, user=reviewer2)
    assert taken.value.code == "claimed" and "rita" in taken.value.detail
    with pytest.raises(ReviewConflict) as decide_other:
        review.review_item_decide(item_id=item.pk, user=reviewer2, decision="approved")
    assert decide_other.value.code == "claimed"
    with pytest.raises(ReviewForbidden):
        review.review_item_release(item_id=item.pk, user=reviewer2)

    released = review.review_item_release(item_id=item.pk, user=reviewer)
    assert released.status == "pending" and released.claimed_by is None
    review.review_item_claim(item_id=item.pk, user=reviewer2)
    decided = review.review_item_decide(item_id=item.pk, user=reviewer2, decision="approved")
    assert decided.decided_by == reviewer2
    assert [e.kind for e in AuditEntry.objects.filter(subject=f"review_item:{item.pk}")] == [
        "queued",
        "claim",
        "release",
        "claim",
        "decision",
    ]
    with pytest.raises(ReviewConflict) as closed:
        review.review_item_claim(item_id=item.pk, user=reviewer)
    assert closed.value.code == "already_decided"
    with pytest.raises(ReviewNotFound):
        review.review_item_claim(item_id=10**9, user=reviewer)


# --- decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "text", "shown"),
    [
        ("approved", "ignored", HELD_TEXT),
        ("rejected", "ignored", None),  # REVIEW_REJECT_TEXT
        ("edited", "Call us at +1 800 555 0100.", "Call us at +1 800 555 0100."),
    ],
)
def test_decision_updates_the_reply_and_stores_the_event(
    held_reply: Message, reviewer: Any, settings: Any, decision: str, text: str, shown: str | None
) -> None:
    shown = shown or settings.REVIEW_REJECT_TEXT
    item = review.review_item_create(message_id=held_reply.pk)
    before = held_reply.conversation.last_seq
    item = review.review_item_decide(item_id=item.pk, user=reviewer, decision=decision, text=text, note="checked")
    assert item.status == "decided" and item.decision == decision and item.decision_text == shown
    assert item.note == "checked" and item.decided_at is not None
    held_reply.refresh_from_db()
    assert held_reply.shown_text == RELEASED_TEXT + shown
    frame = last_event(held_reply)
    assert frame["type"] == "review_resolved" and frame["seq"] == before + 1
    assert frame["decision"] == decision and frame["text"] == shown and frame["message_id"] == held_reply.pk


def test_a_second_decision_is_refused_not_applied(held_reply: Message, reviewer: Any, reviewer2: Any) -> None:
    item = review.review_item_create(message_id=held_reply.pk)
    review.review_item_decide(item_id=item.pk, user=reviewer, decision="rejected")
    with pytest.raises(ReviewConflict) as second:
        review.review_item_decide(item_id=item.pk, user=reviewer2, decision="edited", text="Something else.")
    assert second.value.code == "already_decided" and "already decided" in second.value.detail
    assert Event.objects.filter(type="review_resolved").count() == 1
    assert ReviewItem.objects.get().decision == "rejected"


def test_bad_decisions_are_refused(held_reply: Message, reviewer: Any) -> None:
    item = review.review_item_create(message_id=held_reply.pk)
    # The services take the outcome words only; the old verbs are the JSON API's business.
    for decision, text in [("maybe", ""), ("edited", "   "), ("approve", "")]:
        with pytest.raises(ReviewInvalid) as bad:
            review.review_item_decide(item_id=item.pk, user=reviewer, decision=decision, text=text)
        assert bad.value.code == "bad_request"
    assert ReviewItem.objects.get().status == "pending"


def test_flagged_reply_edit_replaces_the_whole_reply(alice: Any, reviewer: Any) -> None:
    reply = make_reply(alice, severity="flag")
    item = review.review_item_create(message_id=reply.pk)
    review.review_item_decide(item_id=item.pk, user=reviewer, decision="edited", text="A checked answer.")
    reply.refresh_from_db()
    assert reply.shown_text == "A checked answer."
    assert last_event(reply)["replaces"] == "reply"


# --- escalation and expiry (a clock the test controls) -------------------------------------------


def test_escalation_marks_overdue_once_then_expiry_gives_the_default(
    held_reply: Message, reviewer: Any, settings: Any
) -> None:
    settings.REVIEW_SLA_MINUTES = 15
    settings.REVIEW_EXPIRE_HOURS = 24
    t0 = timezone.now()
    item = review.review_item_create(message_id=held_reply.pk, now=t0)
    review.review_item_claim(item_id=item.pk, user=reviewer)

    assert review.review_items_escalate(now=t0 + timedelta(minutes=14)) == {
        "recovered": 0,
        "expired": 0,
        "overdue": 0,
        "lapsed": 0,
    }
    assert review.review_items_escalate(now=t0 + timedelta(minutes=16)) == {
        "recovered": 0,
        "expired": 0,
        "overdue": 1,
        "lapsed": 0,
    }
    assert review.review_items_escalate(now=t0 + timedelta(minutes=30)) == {
        "recovered": 0,
        "expired": 0,
        "overdue": 0,
        "lapsed": 0,
    }
    item.refresh_from_db()
    assert item.overdue and item.status == "claimed" and item.escalated_at == t0 + timedelta(minutes=16)

    assert review.review_items_escalate(now=t0 + timedelta(hours=24, seconds=1)) == {
        "recovered": 0,
        "expired": 1,
        "overdue": 0,
        "lapsed": 0,
    }
    item.refresh_from_db()
    assert item.status == "expired" and item.decision == "rejected" and item.decided_by is None
    held_reply.refresh_from_db()
    assert held_reply.shown_text == RELEASED_TEXT + settings.REVIEW_REJECT_TEXT
    frame = last_event(held_reply)
    assert frame["type"] == "review_resolved" and frame["decision"] == "rejected"
    with pytest.raises(ReviewConflict) as late:
        review.review_item_decide(item_id=item.pk, user=reviewer, decision="approved")
    assert late.value.code == "expired"
    kinds = list(AuditEntry.objects.filter(subject=f"review_item:{item.pk}").values_list("kind", flat=True))
    assert kinds == ["queued", "claim", "escalation", "expiry"]


@pytest.mark.parametrize("setting", ["approved", "approve"])  # the old verb still works
def test_expiry_outcome_is_configurable(held_reply: Message, settings: Any, setting: str) -> None:
    settings.REVIEW_EXPIRE_DECISION = setting
    t0 = timezone.now()
    review.review_item_create(message_id=held_reply.pk, now=t0)
    review.review_items_escalate(now=t0 + timedelta(hours=settings.REVIEW_EXPIRE_HOURS, minutes=1))
    held_reply.refresh_from_db()
    assert held_reply.shown_text == RELEASED_TEXT + HELD_TEXT
    assert last_event(held_reply)["decision"] == "approved"
    assert ReviewItem.objects.get().decision == "approved"


def test_escalation_queues_held_replies_whose_task_never_ran(alice: Any) -> None:
    held = make_reply(alice)  # as if the process died between the turn's commit and queue_review
    flagged = make_reply(alice, severity="flag")
    assert review.review_items_escalate()["recovered"] == 2
    assert set(ReviewItem.objects.values_list("reply_id", flat=True)) == {held.pk, flagged.pk}
    assert review.review_items_escalate()["recovered"] == 0


def test_decided_items_are_not_escalated(held_reply: Message, reviewer: Any) -> None:
    t0 = timezone.now()
    item = review.review_item_create(message_id=held_reply.pk, now=t0)
    review.review_item_decide(item_id=item.pk, user=reviewer, decision="approved")
    assert review.review_items_escalate(now=t0 + timedelta(days=3)) == {
        "recovered": 0,
        "expired": 0,
        "overdue": 0,
        "lapsed": 0,
    }


def test_escalate_command_runs_once(held_reply: Message, settings: Any) -> None:
    settings.REVIEW_SLA_MINUTES = 0
    review.review_item_create(message_id=held_reply.pk, now=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("escalate_reviews", stdout=out)
    assert "escalated 1 overdue" in out.getvalue()


# --- audit trail ----------------------------------------------------------------------------


def test_audit_chain_verifies_then_names_the_altered_row(held_reply: Message, reviewer: Any) -> None:
    item = review.review_item_create(message_id=held_reply.pk)
    review.review_item_claim(item_id=item.pk, user=reviewer)
    review.review_item_decide(item_id=item.pk, user=reviewer, decision="edited", text="Fine.")
    entries = list(AuditEntry.objects.order_by("seq"))
    assert [e.kind for e in entries] == ["moderation_event", "queued", "claim", "decision"]
    assert entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert entries[3].actor == f"user:{reviewer.pk}:rita"
    assert audit_verify() is None
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit trail OK: 4 entries" in out.getvalue()

    with pytest.raises(ValueError):
        entries[2].save()  # the ORM refuses; tampering has to go around it
    table = AuditEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET payload = %s WHERE seq = 3", ['{"forged": true}'])
    broken = audit_verify()
    assert broken is not None and broken.seq == 3 and broken.entry_id == entries[2].pk
    with pytest.raises(CommandError, match=r"broken at entry seq=3 \(id \d+\): hash does not match"):
        call_command("verify_audit")


def test_audit_names_a_deleted_row(held_reply: Message, reviewer: Any) -> None:
    item = review.review_item_create(message_id=held_reply.pk)
    review.review_item_claim(item_id=item.pk, user=reviewer)
    review.review_item_release(item_id=item.pk, user=reviewer)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEntry._meta.db_table} WHERE seq = 2")
    broken = audit_verify()
    assert broken is not None and broken.seq == 2 and "deleted" in broken.problem


# --- chat asks for a review through a signal ------------------------------------------------


def test_reply_needs_review_queues_the_review_after_commit(
    held_reply: Message, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        reply_needs_review.send_robust(sender=None, message_id=held_reply.pk)
        assert not ReviewItem.objects.exists()  # not before the turn's transaction commits
    assert callbacks  # queued on commit (the item's own notification follows it)
    assert ReviewItem.objects.get().reply_id == held_reply.pk


def test_a_broker_outage_does_not_break_the_turns_end(
    held_reply: Message, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.queue_review, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        reply_needs_review.send_robust(sender=None, message_id=held_reply.pk)
    # The escalation sweep finds the reply instead.
    assert review.review_items_escalate()["recovered"] == 1
