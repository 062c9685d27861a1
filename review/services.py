"""Writes for the human review loop (DESIGN §6): queue, claim, release, decide, escalate.

Every function is keyword-only, typed and atomic, writes an audit entry for what it did, and
tells the ``reviewers`` group after commit. A decision reaches the waiting user through
``chat.services.reply_resolve`` (the reply's segments and a stored ``review_resolved`` event,
published after commit, live on any process). What a caller can be refused is a
:class:`ReviewError` subclass with a stable ``code`` and a plain ``detail``; adapters (the JSON
API, the console) map the class to their own status codes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat import events
from chat.models import Message
from chat.services import reply_resolve
from guardrails.audit import audit_append
from guardrails.models import AuditEntry, ModerationEvent
from observability import metrics
from review.models import ReviewItem, ReviewNote

REPORT_REASONS = ("harmful", "made_up", "other")

logger = logging.getLogger(__name__)

REVIEWERS_GROUP = "reviewers"
REVIEW_PERMISSION = "review.review_replies"
EDIT_TEXT_MAX = 20_000
NOTE_MAX = 4_000
# Audit kinds of the console's actions (plain strings: guardrails' Kind lists its own writers').
AUDIT_NOTE = "note"
AUDIT_CLAIM_LAPSED = "claim_lapsed"

# Priority: the strongest reason wins. Held text (a user is waiting on a placeholder) before
# flagged text (already shown); within each, toxicity before the pattern checks.
_SEVERITY_WEIGHT = {"hold": 20, "flag": 10}
_CHECK_WEIGHT = {"toxicity": 5, "patterns": 3}
_DEFAULT_CHECK_WEIGHT = 1

# The verbs REVIEW_EXPIRE_DECISION (and the JSON API's input) used before decisions were named
# by their outcome; still accepted there.
DECISION_VERBS: dict[str, ReviewItem.Decision] = {
    "approve": ReviewItem.Decision.APPROVED,
    "reject": ReviewItem.Decision.REJECTED,
    "edit": ReviewItem.Decision.EDITED,
}


# --- Domain errors ----------------------------------------------------------------------


class ReviewError(Exception):
    """A request the review loop refuses: ``code`` is a stable word, ``detail`` says why and
    what to do, in words a reviewer understands."""

    code = "review_error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class ReviewNotFound(ReviewError):
    """No such item (or reply)."""

    code = "not_found"


class ReviewInvalid(ReviewError):
    """The request itself is malformed: an unknown decision, missing or oversized text."""

    code = "bad_request"


class ReviewForbidden(ReviewError):
    """This user may not do this to this item (e.g. release someone else's claim)."""

    code = "forbidden"


class ReviewConflict(ReviewError):
    """The item's state refuses it: ``already_decided``, ``expired``, ``claimed`` (by someone
    else) or ``not_claimed``."""

    code = "conflict"


def _not_found() -> ReviewNotFound:
    return ReviewNotFound("No such review item.")


# --- Notifications ----------------------------------------------------------------------


def item_summary(item: ReviewItem) -> dict[str, Any]:
    """What the reviewers' live queue needs to show or refresh one row."""
    return {
        "id": item.pk,
        "reply_id": item.reply_id,
        "status": item.status,
        "overdue": item.overdue,
        "priority": item.priority,
        "severity": item.severity,
        "sla_deadline": item.sla_deadline.isoformat(),
        "claimed_by": _username(item.claimed_by),
        "claim_expires_at": _iso(claim_expires_at(item)),
        "decision": item.decision or None,
        "created_at": item.created_at.isoformat(),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def now() -> datetime:
    """The review loop's clock: claim lapses are judged by it (tests move it)."""
    return timezone.now()


def claim_minutes() -> int:
    """How long a claim lasts without activity (``REVIEW_CLAIM_MINUTES``)."""
    return int(settings.REVIEW_CLAIM_MINUTES)


def claim_expires_at(item: ReviewItem) -> datetime | None:
    """When a claim lapses: ``REVIEW_CLAIM_MINUTES`` after its holder's last activity (the
    claim, a re-claim or a note). None when the item is not claimed."""
    if item.status != ReviewItem.Status.CLAIMED or item.claimed_at is None:
        return None
    return item.claimed_at + timedelta(minutes=claim_minutes())


def claim_lapsed(item: ReviewItem, at: datetime | None = None) -> bool:
    """Whether ``item`` is claimed but its holder has been inactive past the claim time box."""
    expires = claim_expires_at(item)
    return expires is not None and expires <= (at or now())


def _username(user: User | None) -> str | None:
    return user.get_username() if user is not None else None


def _notify_reviewers_on_commit(event: str, item: ReviewItem) -> None:
    message = {"type": "review.item", "event": event, "item": item_summary(item)}

    def send() -> None:
        async_to_sync(events.layer().group_send)(REVIEWERS_GROUP, message)

    transaction.on_commit(send)


# --- Queueing ---------------------------------------------------------------------------


def _reasons_for(reply: Message) -> list[dict[str, Any]]:
    events = ModerationEvent.objects.filter(message=reply, action__in=["hold", "flag"]).select_related("pattern")
    reasons = [
        {
            "check": e.check_name,
            "label": e.label,
            "score": e.score,
            "span": [e.span_start, e.span_end],
            "severity": e.severity,
            "action": e.action,
            "pattern": e.pattern.name if e.pattern else e.detail.get("pattern"),
            "pattern_version": e.pattern_version,
            "model": e.model_name,
            "moderation_event": e.pk,
        }
        for e in events
    ]
    if reasons:
        return reasons
    # No stored events (yet): fall back on the reasons the held segments carry.
    return [
        {**reason, "severity": reason.get("severity", "hold"), "action": "hold"}
        for segment in reply.segments
        if segment.get("kind") == "held"
        for reason in segment.get("reasons") or []
    ]


def _priority(reasons: list[dict[str, Any]], *, held: bool) -> tuple[int, str]:
    severity = "hold" if held or any(r.get("severity") == "hold" for r in reasons) else "flag"
    best = max(
        (_SEVERITY_WEIGHT.get(str(r.get("severity")), 10) + _CHECK_WEIGHT.get(str(r.get("check")), 1) for r in reasons),
        default=_SEVERITY_WEIGHT[severity] + _DEFAULT_CHECK_WEIGHT,
    )
    return max(best, _SEVERITY_WEIGHT[severity]), severity


@transaction.atomic
def review_item_create(*, message_id: int, now: datetime | None = None) -> ReviewItem:
    """The review item of a held or flagged reply, made once however often this is called.

    Sets priority and reasons from the reply's moderation events and the SLA deadline
    (``REVIEW_SLA_MINUTES``), audits it, and notifies the reviewers group after commit (again
    on a repeat call while it is still open: notifications are at least once, keyed by id).
    """
    reply = Message.objects.filter(pk=message_id, role=Message.Role.ASSISTANT).first()
    if reply is None:
        raise ReviewNotFound(f"No assistant reply {message_id} to review.")
    now = now or timezone.now()
    reasons = _reasons_for(reply)
    held = any(s.get("kind") == "held" for s in reply.segments)
    priority, severity = _priority(reasons, held=held)
    item, created = ReviewItem.objects.get_or_create(
        reply=reply,
        defaults={
            "priority": priority,
            "severity": severity,
            "reasons": reasons,
            "sla_deadline": now + timedelta(minutes=settings.REVIEW_SLA_MINUTES),
            "created_at": now,
        },
    )
    if created:
        audit_append(
            kind=AuditEntry.Kind.QUEUED,
            actor=None,
            subject=f"review_item:{item.pk}",
            payload={"reply": reply.pk, "priority": priority, "severity": severity, "reasons": len(reasons)},
        )
    if item.is_open:
        _notify_reviewers_on_commit("created" if created else "requeued", item)
    return item


@transaction.atomic
def review_item_report(*, message_id: int, reason: str, comment: str = "", now: datetime | None = None) -> ReviewItem:
    """The review item for a user's report of a shown reply (``reason``: ``harmful``,
    ``made_up``, ``other``), made once however often the user reports it.

    One item per reply: a reply already queued by moderation keeps its item, which gets the
    report's reason and time (a decided item is not reopened: decisions are final). A new item
    has ``source=user_report``, flag severity, one reason ``{check: "user_report", label:
    reason}`` and the usual SLA deadline; it is audited and the reviewers are told after commit.
    """
    reply = Message.objects.filter(pk=message_id, role=Message.Role.ASSISTANT).first()
    if reply is None:
        raise ReviewNotFound(f"No assistant reply {message_id} to review.")
    if reason not in REPORT_REASONS:
        raise ReviewInvalid('"reason" must be "harmful", "made_up" or "other".')
    now = now or timezone.now()
    reasons = [
        {"check": "user_report", "label": reason, "score": 1.0, "span": [0, 0], "severity": "flag", "action": "report"}
    ]
    priority, severity = _priority(reasons, held=False)
    item, created = ReviewItem.objects.select_for_update().get_or_create(
        reply=reply,
        defaults={
            "source": ReviewItem.Source.USER_REPORT,
            "priority": priority,
            "severity": severity,
            "reasons": reasons,
            "sla_deadline": now + timedelta(minutes=settings.REVIEW_SLA_MINUTES),
            "created_at": now,
            "report_reason": reason,
            "report_comment": comment,
            "reported_at": now,
        },
    )
    if not created:
        if item.reported_at is not None:
            return item  # reported before: nothing new
        item.report_reason, item.report_comment, item.reported_at = reason, comment, now
        item.save(update_fields=["report_reason", "report_comment", "reported_at", "updated_at"])
    metrics.USER_REPORTS.labels(reason=reason).inc()
    audit_append(
        kind=AuditEntry.Kind.QUEUED,
        actor=None,
        subject=f"review_item:{item.pk}",
        payload={"reply": reply.pk, "source": "user_report", "reason": reason, "new_item": created},
    )
    if item.is_open:
        _notify_reviewers_on_commit("created" if created else "reported", item)
    return item


# --- Claims -----------------------------------------------------------------------------


def _locked_item(item_id: int) -> ReviewItem:
    item = ReviewItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise _not_found()
    return item


def _refuse_if_closed(item: ReviewItem) -> None:
    if item.status == ReviewItem.Status.DECIDED:
        who = _username(item.decided_by) or "a reviewer"
        raise ReviewConflict(
            f"This reply was already decided ({item.decision}, by {who}); a decision cannot be changed.",
            code="already_decided",
        )
    if item.status == ReviewItem.Status.EXPIRED:
        raise ReviewConflict(
            f"Nobody decided this reply in time; it was given the default outcome ({item.decision}).",
            code="expired",
        )


@transaction.atomic
def review_item_claim(*, item_id: int, user: User) -> ReviewItem:
    """Take an open item so no other reviewer decides it. Claiming one's own claim is a no-op."""
    item = _locked_item(item_id)
    _refuse_if_closed(item)
    _lapse_if_due(item)
    if item.status == ReviewItem.Status.CLAIMED:
        if item.claimed_by_id == user.pk:
            # Activity: the time box starts again.
            item.claimed_at = now()
            item.save(update_fields=["claimed_at", "updated_at"])
            _notify_reviewers_on_commit("claimed", item)
            return item
        raise ReviewConflict(
            f"{_username(item.claimed_by) or 'Another reviewer'} has claimed this item; "
            "they must release it (or let the claim lapse) before anyone else can.",
            code="claimed",
        )
    item.status = ReviewItem.Status.CLAIMED
    item.claimed_by = user
    item.claimed_at = now()
    item.save(update_fields=["status", "claimed_by", "claimed_at", "updated_at"])
    audit_append(kind=AuditEntry.Kind.CLAIM, actor=user, subject=f"review_item:{item.pk}", payload={})
    _notify_reviewers_on_commit("claimed", item)
    return item


def _lapse_if_due(item: ReviewItem) -> bool:
    """Inside the caller's transaction, on a locked item: give a lapsed claim back to the
    queue (audited, reviewers told). Whether it lapsed."""
    if not claim_lapsed(item):
        return False
    previous = _username(item.claimed_by)
    item.status = ReviewItem.Status.PENDING
    item.claimed_by = None
    item.claimed_at = None
    item.save(update_fields=["status", "claimed_by", "claimed_at", "updated_at"])
    audit_append(
        kind=AUDIT_CLAIM_LAPSED,
        actor=None,
        subject=f"review_item:{item.pk}",
        payload={"claimed_by": previous, "minutes": settings.REVIEW_CLAIM_MINUTES},
    )
    _notify_reviewers_on_commit("released", item)
    return True


@transaction.atomic
def review_item_lapse(*, item_id: int) -> int:
    """Give the item back to the queue if its claim has lapsed; 1 if it did."""
    item = ReviewItem.objects.select_for_update().filter(pk=item_id).first()
    return int(item is not None and _lapse_if_due(item))


def review_claims_lapse(*, batch: int = 200) -> int:
    """Release every lapsed claim (the escalation task runs this), so open consoles see them
    free without anyone trying first. Each item in its own transaction."""
    cutoff = now() - timedelta(minutes=settings.REVIEW_CLAIM_MINUTES)
    due = ReviewItem.objects.filter(status=ReviewItem.Status.CLAIMED, claimed_at__lte=cutoff)
    return sum(review_item_lapse(item_id=item_id) for item_id in list(due.values_list("id", flat=True)[:batch]))


@transaction.atomic
def review_note_add(*, item_id: int, user: User, text: str) -> ReviewNote:
    """Add a note to an item (open or decided), audited; a note by the claim's holder counts as
    activity and restarts the claim's time box."""
    text = text.strip()
    if not text:
        raise ReviewInvalid("A note needs some text.")
    if len(text) > NOTE_MAX:
        raise ReviewInvalid(f"A note is limited to {NOTE_MAX} characters.")
    item = _locked_item(item_id)
    note = ReviewNote.objects.create(item=item, author=user, text=text, created_at=now())
    if item.status == ReviewItem.Status.CLAIMED and item.claimed_by_id == user.pk and not claim_lapsed(item):
        item.claimed_at = note.created_at
        item.save(update_fields=["claimed_at", "updated_at"])
    audit_append(kind=AUDIT_NOTE, actor=user, subject=f"review_item:{item.pk}", payload={"note": note.pk, "text": text})
    _notify_reviewers_on_commit("noted", item)
    return note


@transaction.atomic
def review_item_release(*, item_id: int, user: User) -> ReviewItem:
    """Give a claimed item back to the queue: its claimer, or a superuser for an absent one."""
    item = _locked_item(item_id)
    _refuse_if_closed(item)
    _lapse_if_due(item)
    if item.status != ReviewItem.Status.CLAIMED:
        raise ReviewConflict("This item is not claimed; there is nothing to release.", code="not_claimed")
    if item.claimed_by_id != user.pk and not getattr(user, "is_superuser", False):
        raise ReviewForbidden(f"Only {_username(item.claimed_by) or 'its claimer'} can release this item.")
    previous = _username(item.claimed_by)
    item.status = ReviewItem.Status.PENDING
    item.claimed_by = None
    item.claimed_at = None
    item.save(update_fields=["status", "claimed_by", "claimed_at", "updated_at"])
    audit_append(
        kind=AuditEntry.Kind.RELEASE, actor=user, subject=f"review_item:{item.pk}", payload={"claimed_by": previous}
    )
    _notify_reviewers_on_commit("released", item)
    return item


# --- Decisions --------------------------------------------------------------------------


def _resolve(item: ReviewItem, decision: ReviewItem.Decision, text: str) -> str:
    """Apply ``decision`` to the reply (which publishes ``review_resolved`` after commit); the shown text."""
    if decision == ReviewItem.Decision.REJECTED:
        text = settings.REVIEW_REJECT_TEXT
    reply_resolve(message_id=item.reply_id, decision=decision.value, text=text)
    if decision == ReviewItem.Decision.APPROVED:
        reply = Message.objects.only("segments").get(pk=item.reply_id)
        return "".join(s["text"] for s in reply.segments if s.get("kind") == "held")
    return text


@transaction.atomic
def review_item_decide(*, item_id: int, user: User, decision: str, text: str = "", note: str = "") -> ReviewItem:
    """``approved`` (the held text is shown as generated), ``rejected`` (``REVIEW_REJECT_TEXT``
    is shown) or ``edited`` (``text`` is shown). Once per item; a claimed item only by its
    claimer."""
    if decision not in ReviewItem.Decision.values:
        raise ReviewInvalid('"decision" must be "approved", "rejected" or "edited".')
    outcome = ReviewItem.Decision(decision)
    text = text.strip()
    if outcome == ReviewItem.Decision.EDITED and not text:
        raise ReviewInvalid('An "edited" decision needs the replacement "text" the user will see.')
    if len(text) > EDIT_TEXT_MAX or len(note) > NOTE_MAX:
        raise ReviewInvalid(f'"text" is limited to {EDIT_TEXT_MAX} characters and "note" to {NOTE_MAX}.')
    item = _locked_item(item_id)
    _refuse_if_closed(item)
    _lapse_if_due(item)
    if item.status == ReviewItem.Status.CLAIMED and item.claimed_by_id != user.pk:
        raise ReviewConflict(
            f"{_username(item.claimed_by) or 'Another reviewer'} has claimed this item; "
            "only they can decide it unless they release it.",
            code="claimed",
        )
    shown = _resolve(item, outcome, text)
    item.status = ReviewItem.Status.DECIDED
    item.decision = outcome
    item.decided_by = user
    item.decided_at = timezone.now()
    item.decision_text = shown
    item.note = note.strip()
    item.save()
    waited = (item.decided_at - item.created_at).total_seconds()
    metrics.REVIEW_DECISION_TIME.labels(decision=outcome.value).observe(waited)
    audit_append(
        kind=AuditEntry.Kind.DECISION,
        actor=user,
        subject=f"review_item:{item.pk}",
        payload={"reply": item.reply_id, "decision": outcome.value, "text": shown, "note": item.note},
    )
    _notify_reviewers_on_commit("decided", item)
    return item


# --- Escalation and expiry (Celery beat) ---------------------------------------------------


def expire_decision() -> ReviewItem.Decision:
    """The outcome given to items nobody decided in time (``REVIEW_EXPIRE_DECISION``:
    ``approved`` or ``rejected``; the older ``approve`` and ``reject`` still work)."""
    value = str(settings.REVIEW_EXPIRE_DECISION).strip().lower()
    outcome = DECISION_VERBS.get(value, value)
    if outcome not in (ReviewItem.Decision.APPROVED, ReviewItem.Decision.REJECTED):
        logger.error("REVIEW_EXPIRE_DECISION=%r is not approved or rejected; rejecting", value)
        return ReviewItem.Decision.REJECTED
    return ReviewItem.Decision(outcome)


def review_items_escalate(*, now: datetime | None = None, batch: int = 200) -> dict[str, int]:
    """Queue what was never queued (``review_items_recover``); mark open items past their SLA
    deadline overdue; give the default outcome to those open longer than ``REVIEW_EXPIRE_HOURS``.
    Each item in its own transaction, so one failure or a concurrent decision never undoes the
    rest. Returns counts."""
    now = now or timezone.now()
    counts = {
        "recovered": review_items_recover(batch=batch),
        "expired": 0,
        "overdue": 0,
        "lapsed": review_claims_lapse(batch=batch),
    }
    open_ = ReviewItem.objects.filter(status__in=[ReviewItem.Status.PENDING, ReviewItem.Status.CLAIMED])
    expire_before = now - timedelta(hours=settings.REVIEW_EXPIRE_HOURS)
    for item_id in list(open_.filter(created_at__lte=expire_before).values_list("id", flat=True)[:batch]):
        counts["expired"] += review_item_expire(item_id=item_id, now=now)
    for item_id in list(open_.filter(overdue=False, sla_deadline__lte=now).values_list("id", flat=True)[:batch]):
        counts["overdue"] += review_item_mark_overdue(item_id=item_id, now=now)
    return counts


def review_items_recover(*, batch: int = 200) -> int:
    """Make the items of finished held/flagged replies that have none.

    ``queue_review`` is sent after the turn's commit; a process that dies between the two, or
    a broker that is down at that moment, would otherwise leave a user waiting for good.
    """
    orphans = (
        Message.objects.filter(
            role=Message.Role.ASSISTANT,
            review_item__isnull=True,
            moderation_events__action__in=[ModerationEvent.Action.HOLD, ModerationEvent.Action.FLAG],
        )
        .exclude(status=Message.Status.STREAMING)
        .values_list("id", flat=True)
        .distinct()
        .order_by("id")[:batch]
    )
    recovered = 0
    for message_id in list(orphans):
        review_item_create(message_id=message_id)
        recovered += 1
    if recovered:
        logger.warning("queued %d held/flagged replies whose queue_review never ran", recovered)
    return recovered


@transaction.atomic
def review_item_mark_overdue(*, item_id: int, now: datetime) -> int:
    item = ReviewItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None or not item.is_open or item.overdue or item.sla_deadline > now:
        return 0  # decided (or escalated) meanwhile
    item.overdue = True
    item.escalated_at = now
    item.save(update_fields=["overdue", "escalated_at", "updated_at"])
    metrics.REVIEW_SLA_BREACHES.inc()
    audit_append(
        kind=AuditEntry.Kind.ESCALATION,
        actor=None,
        subject=f"review_item:{item.pk}",
        payload={"sla_deadline": item.sla_deadline.isoformat(), "claimed_by": _username(item.claimed_by)},
    )
    _notify_reviewers_on_commit("overdue", item)
    return 1


@transaction.atomic
def review_item_expire(*, item_id: int, now: datetime) -> int:
    item = ReviewItem.objects.select_for_update().filter(pk=item_id).first()
    expire_before = now - timedelta(hours=settings.REVIEW_EXPIRE_HOURS)
    if item is None or not item.is_open or item.created_at > expire_before:
        return 0
    decision = expire_decision()
    shown = _resolve(item, decision, "")
    item.status = ReviewItem.Status.EXPIRED
    item.decision = decision
    item.decided_at = now
    item.decision_text = shown
    item.save()
    metrics.REVIEW_DECISION_TIME.labels(decision=decision.value).observe((now - item.created_at).total_seconds())
    audit_append(
        kind=AuditEntry.Kind.EXPIRY,
        actor=None,
        subject=f"review_item:{item.pk}",
        payload={
            "reply": item.reply_id,
            "decision": decision.value,
            "text": shown,
            "hours": settings.REVIEW_EXPIRE_HOURS,
        },
    )
    _notify_reviewers_on_commit("expired", item)
    return 1
