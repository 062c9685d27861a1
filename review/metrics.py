"""Review-queue figures read from the database at scrape time (``/metrics``).

Depth and the oldest pending item's age are facts of the database, not of a process: a
collector that asks the database on each scrape is exact on any process and needs no
bookkeeping across them. Two cheap aggregate queries over the (status, overdue, deadline) index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from observability.metrics import QUEUE_DEPTH_NAME, QUEUE_OLDEST_NAME
from review.models import ReviewItem

logger = logging.getLogger(__name__)

OPEN = (ReviewItem.Status.PENDING, ReviewItem.Status.CLAIMED)


class QueueCollector(Collector):
    """``review_queue_depth{status,source}`` and ``review_queue_oldest_pending_age_seconds``."""

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            QUEUE_DEPTH_NAME, "Open review items, by status and source.", labels=["status", "source"]
        )
        oldest = GaugeMetricFamily(QUEUE_OLDEST_NAME, "Age of the oldest open review item (0 when none).")
        try:
            rows = ReviewItem.objects.filter(status__in=OPEN).values("status", "source").annotate(n=Count("id"))
            counts = {(r["status"], r["source"]): r["n"] for r in rows}
            first = ReviewItem.objects.filter(status__in=OPEN).aggregate(first=Min("created_at"))["first"]
        except Exception:  # a scrape must not fail because the database hiccuped
            logger.exception("review queue metrics unavailable")
            return
        for status in OPEN:
            for source in ReviewItem.Source.values:
                depth.add_metric([status.value, source], counts.get((status.value, source), 0))
        oldest.add_metric([], (timezone.now() - first).total_seconds() if first else 0.0)
        yield depth
        yield oldest
