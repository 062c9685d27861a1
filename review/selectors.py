"""Reads for the review loop: the queue by status, and one item as a reviewer sees it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from chat.models import Message
from review.models import ReviewItem

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
