from __future__ import annotations

import logging

from django.apps import AppConfig
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from chat.signals import reply_needs_review

logger = logging.getLogger(__name__)


class GuardrailsConfig(AppConfig):
    name = "guardrails"
    label = "guardrails"
    verbose_name = "Guardrails"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guardrails import selectors
        from guardrails.models import Pattern

        # An edit in this process takes effect on the very next check (other processes
        # notice within GUARDRAILS_PATTERNS_RECHECK_S).
        post_save.connect(selectors.forget_pattern_rules, sender=Pattern, dispatch_uid="guardrails-patterns-saved")
        post_delete.connect(selectors.forget_pattern_rules, sender=Pattern, dispatch_uid="guardrails-patterns-deleted")
        # moved to review app at merge
        reply_needs_review.connect(_queue_review, dispatch_uid="guardrails-queue-review")
        if not getattr(settings, "GUARDRAILS_ENABLED", True):
            logger.warning("GUARDRAILS_ENABLED is false: replies are shown UNCHECKED (for measurements only)")


def _queue_review(sender: object, *, message_id: int, **kwargs: object) -> None:  # moved to review app at merge
    """Queue the review of a held or flagged reply once its final state commits.

    robust: a broker outage must not break the turn's end; the escalation task's recovery
    sweep queues any held reply that has no review item.
    """
    from guardrails import tasks

    transaction.on_commit(lambda: tasks.queue_review.delay(message_id), robust=True)
