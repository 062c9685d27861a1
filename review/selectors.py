"""Reads for the review loop: the queue by status, and one item as a reviewer sees it."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from chat.models import Message
from guardrails.audit import GENESIS_HASH, entry_hash
from guardrails.models import AuditEntry, ModerationEvent, Pattern
from review import services
from review.models import ReviewItem, ReviewNote

# How much of the conversation before the reply a reviewer is shown.
CONTEXT_MESSAGES = 10

STATUS_FILTERS = ("pending", "claimed", "overdue", "decided", "expired", "open", "all")


def review_items(*, status: str = "open") -> QuerySet[ReviewItem]:
    """Items by queue: ``pending`` (unclaimed, overdue ones included), ``claimed``, ``overdue``
    (open and past the SLA deadline), ``decided`` (by a person), ``expired`` (given the default
    outcome), ``open`` (pending or claimed) or ``all``. Open queues are most urgent first;
    closed ones most recent first."""
    if status not in STATUS_FILTERS:
        raise ValueError(status)
    items = ReviewItem.objects.select_related("reply", "reply__conversation__owner", "claimed_by", "decided_by")
    open_statuses = [ReviewItem.Status.PENDING, ReviewItem.Status.CLAIMED]
    if status == "open":
        items = items.filter(status__in=open_statuses)
    elif status == "overdue":
        items = items.filter(status__in=open_statuses, overdue=True)
    elif status != "all":
        items = items.filter(status=status)
    if status in ("decided", "expired", "all"):
        return items.order_by("-decided_at", "-id")
    return items.order_by("-priority", "sla_deadline", "id")


def review_item(*, item_id: int) -> ReviewItem | None:
    return review_items(status="all").filter(pk=item_id).first()


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _username(user: User | None) -> str | None:
    return user.get_username() if user is not None else None


def review_item_json(item: ReviewItem) -> dict[str, Any]:
    """One item for the JSON API: the reply, the conversation before it, the held text, reasons."""
    reply = item.reply
    conversation = reply.conversation
    before = list(
        Message.objects.filter(conversation_id=reply.conversation_id, id__lt=reply.pk).order_by("-id")[
            :CONTEXT_MESSAGES
        ]
    )
    held = [s for s in reply.segments if s.get("kind") == "held"]
    return {
        "id": item.pk,
        "status": item.status,
        "overdue": item.overdue,
        "priority": item.priority,
        "severity": item.severity,
        "created_at": _when(item.created_at),
        "sla_deadline": _when(item.sla_deadline),
        "escalated_at": _when(item.escalated_at),
        "claimed_by": _username(item.claimed_by),
        "claimed_at": _when(item.claimed_at),
        "decision": item.decision or None,
        "decided_by": _username(item.decided_by),
        "decided_at": _when(item.decided_at),
        "decision_text": item.decision_text if item.decision else None,
        "note": item.note,
        "reasons": item.reasons,
        # Held parts as generated; for a flagged reply (shown, then reviewed) the whole reply.
        "held_text": "".join(s["text"] for s in held) if held else reply.text,
        "message": {
            "id": reply.pk,
            "conversation_id": reply.conversation_id,
            "user": conversation.owner.get_username(),
            "status": reply.status,
            "created_at": _when(reply.created_at),
            "text": reply.text,
            "shown_text": reply.shown_text,
            "segments": reply.segments,
        },
        "context": [
            {"id": m.pk, "role": m.role, "text": m.shown_text, "created_at": _when(m.created_at)}
            for m in reversed(before)
        ],
    }


# --- The console (review/console.py) ----------------------------------------------------------

CONSOLE_FILTERS = ("open", "pending", "claimed", "mine", "overdue", "decided")
EXCERPT_CHARS = 160
# Overturn rates look back this far (decisions), so a changed threshold shows up soon.
OVERTURN_WINDOW = timedelta(days=30)


def console_items(
    *, user: User, status: str = "open", check: str = "", pattern: str = "", query: str = "", at: datetime
) -> QuerySet[ReviewItem]:
    """The console's queue. ``status``: ``open`` (pending or claimed), ``pending``, ``claimed``,
    ``mine`` (claimed by ``user``), ``overdue`` (open and past the SLA deadline, flagged by the
    escalation task or not yet), ``decided`` (by a person, or expired). ``check`` / ``pattern``:
    items with such a hold or flag. ``query``: the user's name or the reply's text contains it.

    Open queues by deadline, most urgent first (then priority); decided ones newest first.
    Rows come with everything a row shows joined in (no query per row)."""
    if status not in CONSOLE_FILTERS:
        raise ValueError(status)
    items = ReviewItem.objects.select_related("reply__conversation__owner", "claimed_by", "decided_by")
    open_statuses = [ReviewItem.Status.PENDING, ReviewItem.Status.CLAIMED]
    if status == "open":
        items = items.filter(status__in=open_statuses)
    elif status == "pending":
        items = items.filter(status=ReviewItem.Status.PENDING)
    elif status == "claimed":
        items = items.filter(status=ReviewItem.Status.CLAIMED)
    elif status == "mine":
        items = items.filter(status=ReviewItem.Status.CLAIMED, claimed_by=user)
    elif status == "overdue":
        items = items.filter(Q(overdue=True) | Q(sla_deadline__lte=at), status__in=open_statuses)
    else:
        items = items.filter(status__in=[ReviewItem.Status.DECIDED, ReviewItem.Status.EXPIRED])
    if check or pattern:
        events = ModerationEvent.objects.filter(
            message_id=OuterRef("reply_id"), action__in=[ModerationEvent.Action.HOLD, ModerationEvent.Action.FLAG]
        )
        if check:
            events = events.filter(check_name=check)
        if pattern:
            events = events.filter(Q(pattern__name=pattern) | Q(check_name="patterns", label=pattern))
        items = items.filter(Exists(events))
    if query := query.strip():
        items = items.filter(Q(reply__conversation__owner__username__icontains=query) | Q(reply__text__icontains=query))
    if status == "decided":
        return items.order_by("-decided_at", "-id")
    return items.order_by("sla_deadline", "-priority", "id")


def held_text(reply: Message) -> str:
    """What was withheld (or, for a flagged reply, the whole reply as shown)."""
    held = [s["text"] for s in reply.segments if s.get("kind") == "held"]
    return "".join(held) if held else reply.text


def _excerpt(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= EXCERPT_CHARS else line[: EXCERPT_CHARS - 1].rstrip() + "…"


def _reason_chips(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chip per distinct (check, label, pattern)."""
    seen: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for r in reasons:
        key = (r.get("check"), r.get("label"), r.get("pattern"))
        seen.setdefault(key, {"check": key[0], "label": key[1], "pattern": key[2]})
    return list(seen.values())


def console_row_json(item: ReviewItem) -> dict[str, Any]:
    """One row of the console's queue (joined by :func:`console_items`)."""
    reply = item.reply
    decided_in = (item.decided_at - item.created_at).total_seconds() if item.decided_at else None
    return {
        "id": item.pk,
        "reply_id": item.reply_id,
        "status": item.status,
        "severity": item.severity,
        "priority": item.priority,
        "overdue": item.overdue,
        "escalated_at": _when(item.escalated_at),
        "created_at": _when(item.created_at),
        "sla_deadline": _when(item.sla_deadline),
        "user": reply.conversation.owner.get_username(),
        "excerpt": _excerpt(held_text(reply)),
        "reasons": _reason_chips(item.reasons),
        "claimed_by": _username(item.claimed_by),
        "claim_expires_at": _when(services.claim_expires_at(item)),
        "decision": item.decision or None,
        "decided_by": _username(item.decided_by) or ("system" if item.status == ReviewItem.Status.EXPIRED else None),
        "decided_at": _when(item.decided_at),
        "decided_in_s": decided_in,
    }


def audit_trail(item: ReviewItem) -> dict[str, Any]:
    """The item's audit entries, and whether each is intact and linked to the entry before it
    (its own hash recomputed; its ``prev_hash`` equal to that entry's hash). Checks the item's
    links of the chain, not the whole chain (``manage.py verify_audit`` does that)."""
    entries = list(AuditEntry.objects.filter(subject=f"review_item:{item.pk}").order_by("seq"))
    previous = dict(AuditEntry.objects.filter(seq__in=[e.seq - 1 for e in entries]).values_list("seq", "hash"))
    rows = []
    verified = True
    for e in entries:
        expected_prev = previous.get(e.seq - 1, GENESIS_HASH if e.seq == 1 else None)
        ok = entry_hash(e) == e.hash and e.prev_hash == expected_prev
        verified = verified and ok
        rows.append(
            {
                "seq": e.seq,
                "kind": e.kind,
                "actor": e.actor,
                "created_at": _when(e.created_at),
                "payload": e.payload,
                "hash": e.hash,
                "verified": ok,
            }
        )
    return {"entries": rows, "verified": verified}


def console_item_json(item: ReviewItem) -> dict[str, Any]:
    """One item as the console shows it: :func:`review_item_json`, plus its notes, its audit
    trail, when its claim lapses, and the user's question (the message it answers)."""
    data = review_item_json(item)
    notes = ReviewNote.objects.filter(item=item).select_related("author")
    data["notes"] = [
        {"id": n.pk, "author": _username(n.author), "text": n.text, "created_at": _when(n.created_at)} for n in notes
    ]
    data["claim_expires_at"] = _when(services.claim_expires_at(item))
    data["audit"] = audit_trail(item)
    return data


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def console_stats(*, at: datetime) -> dict[str, Any]:
    """The console's header: queue depth, oldest open item's age, median time to decision
    today (since local midnight), and per check / pattern how often a held reply was
    overturned (approved or edited) over :data:`OVERTURN_WINDOW`."""
    open_items = ReviewItem.objects.filter(status__in=[ReviewItem.Status.PENDING, ReviewItem.Status.CLAIMED])
    counts = open_items.aggregate(
        depth=Count("id"), oldest=Min("created_at"), overdue=Count("id", filter=Q(overdue=True))
    )
    today = timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)
    decided_today = ReviewItem.objects.filter(status=ReviewItem.Status.DECIDED, decided_at__gte=today)
    durations = [
        (d - c).total_seconds() for c, d in decided_today.values_list("created_at", "decided_at") if d is not None
    ]
    overturn: dict[tuple[str, str], dict[str, Any]] = {}
    decided = ReviewItem.objects.filter(
        status=ReviewItem.Status.DECIDED,
        severity=Pattern.Severity.HOLD,
        decided_at__gte=at - OVERTURN_WINDOW,
    ).values_list("reasons", "decision")
    for reasons, decision in decided:
        for chip in _reason_chips(reasons):
            key = (str(chip["check"]), str(chip["pattern"] or chip["label"] or ""))
            row = overturn.setdefault(key, {"check": key[0], "name": key[1], "decided": 0, "overturned": 0})
            row["decided"] += 1
            row["overturned"] += decision in (ReviewItem.Decision.APPROVED, ReviewItem.Decision.EDITED)
    rates = sorted(overturn.values(), key=lambda r: (-r["decided"], r["check"], r["name"]))
    for row in rates:
        row["rate"] = row["overturned"] / row["decided"]
    return {
        "queue_depth": counts["depth"],
        "pending": open_items.filter(status=ReviewItem.Status.PENDING).count(),
        "overdue": counts["overdue"],
        "oldest_age_s": (at - counts["oldest"]).total_seconds() if counts["oldest"] else None,
        "median_decision_s_today": _median(durations),
        "decided_today": len(durations),
        "overturn": rates,
    }
