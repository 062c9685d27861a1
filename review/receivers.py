"""How the review app hears about replies that need a person: receivers of chat's signals."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from review import services, tasks


def queue_review_on_commit(sender: Any, *, message_id: int, **_: Any) -> None:
    """Receiver of ``chat.signals.reply_needs_review``: queue the reply's review after commit.

    ``robust``: a broker outage must not break the turn's end; the escalation task's recovery
    sweep (``review_items_recover``) queues any held reply that has no review item.
    """
    transaction.on_commit(lambda: tasks.queue_review.delay(message_id), robust=True)


def review_user_report(sender: Any, *, message_id: int, reason: str, comment: str = "", **_: Any) -> None:
    """Receiver of ``chat.signals.reply_reported``: the reply's review item, in the rating's
    transaction (a savepoint: a failure here leaves the rating stored)."""
    services.review_item_report(message_id=message_id, reason=reason, comment=comment)
