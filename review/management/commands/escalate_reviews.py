"""``manage.py escalate_reviews [--every SECONDS]``: the beat task without Celery beat.

With ``REDIS_URL`` set, Celery beat runs ``review.tasks.escalate_reviews``. The embedded
default (no Redis, eager Celery) has no beat: ``make run`` starts this command with
``--every`` beside the server instead, so overdue items escalate and stale ones expire there too.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from review import tasks


class Command(BaseCommand):
    help = "Escalate overdue review items and expire stale ones (once, or every N seconds with --every)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every",
            type=float,
            nargs="?",
            const=-1.0,
            default=None,
            help="Keep running, every N seconds (no value: REVIEW_ESCALATE_EVERY_S from the beat schedule).",
        )

    def handle(self, *args: Any, every: float | None, **options: Any) -> None:
        if every is not None and every <= 0:
            every = settings.REVIEW_ESCALATE_EVERY_S
        while True:
            counts = tasks.escalate_reviews.apply().get()  # the task's code, in this process
            if any(counts.values()) or every is None:
                self.stdout.write(
                    f"queued {counts['recovered']} missed, escalated {counts['overdue']} overdue, "
                    f"expired {counts['expired']}, released {counts['lapsed']} lapsed claims"
                )
            if every is None:
                return
            close_old_connections()
            time.sleep(every)
