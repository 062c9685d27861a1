"""Celery adapters for the review loop: load by id, call one service, safe to run twice.

``acks_late`` + ``reject_on_worker_lost``: a task is acknowledged only after it ran, so a
worker killed mid-task leaves it to be delivered again (at once for a lost pool child; after
``CELERY_VISIBILITY_TIMEOUT`` for a lost worker on Redis). The services are idempotent (one
ReviewItem per reply, enforced by a unique constraint), so redelivery never doubles anything.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from review import services

logger = logging.getLogger(__name__)

# Worth retrying: the database or Redis (channel layer) is briefly unreachable.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, RedisError, BrokerError, ConnectionError, TimeoutError)


class RetryOptions(TypedDict):
    acks_late: bool
    reject_on_worker_lost: bool
    autoretry_for: tuple[type[BaseException], ...]
    retry_backoff: int
    retry_backoff_max: int
    retry_jitter: bool
    max_retries: int


RETRY: RetryOptions = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 12,
}


def _queue_review(message_id: int) -> int | None:
    try:
        return services.review_item_create(message_id=message_id).pk
    except services.ReviewNotFound as exc:  # the reply is gone: nothing to retry
        logger.warning("queue_review(%s): %s", message_id, exc.detail)
        return None


def _escalate_reviews() -> dict[str, int]:
    counts = services.review_items_escalate()
    if any(counts.values()):
        logger.info("review escalation: %s", counts)
    return counts


@shared_task(name="review.tasks.queue_review", **RETRY)
def queue_review(message_id: int) -> int | None:
    """Make (once) the review item of a held or flagged reply and tell the reviewers."""
    return _queue_review(message_id)


@shared_task(name="review.tasks.escalate_reviews", **RETRY)
def escalate_reviews() -> dict[str, int]:
    """Beat, every ``REVIEW_ESCALATE_EVERY_S``: overdue items are escalated, stale ones expire."""
    return _escalate_reviews()


# The names these tasks had while they lived in guardrails: messages already queued under them,
# and a beat still running an old schedule, keep working through a deploy. Remove once no broker
# can hold such a message (a release after this one).
@shared_task(name="guardrails.tasks.queue_review", **RETRY)
def queue_review_legacy(message_id: int) -> int | None:
    """``queue_review`` under its old name."""
    return _queue_review(message_id)


@shared_task(name="guardrails.tasks.escalate_reviews", **RETRY)
def escalate_reviews_legacy() -> dict[str, int]:
    """``escalate_reviews`` under its old name."""
    return _escalate_reviews()
