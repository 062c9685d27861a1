"""Reads for reviewers: usage and cost per user and conversation, and calibration from decisions.

Selectors only (no writes). The arithmetic of calibration is ``guardrails.calibration`` (no
Django); this module feeds it the decided reasons of a period and ``evaluate_guardrails``
reports named by ``GUARDRAILS_EVAL_REPORTS``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from chat.models import Message
from guardrails import calibration
from review.models import ReviewItem

logger = logging.getLogger(__name__)

TOP = 20
DEFAULT_PRECISION = 0.9


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Replies of one user (or conversation) in the period: tokens, cost, holds, refusals."""

    key: int
    name: str
    replies: int
    tokens_in: int
    tokens_out: int
    held: int
    refused: int

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def cost(self) -> float:
        return (
            self.tokens_in / 1000 * settings.LLM_COST_PER_1K_INPUT
            + self.tokens_out / 1000 * settings.LLM_COST_PER_1K_OUTPUT
        )


def period_start(days: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=days)


def _usage(group: str, name: str, since: datetime, limit: int) -> list[UsageRow]:
    rows = (
        Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=since)
        .values(group, name)
        .annotate(
            replies=Count("id"),
            tokens_in=Sum("tokens_in", default=0),
            tokens_out=Sum("tokens_out", default=0),
            held=Count("id", filter=Q(status=Message.Status.HELD)),
            refused=Count("id", filter=Q(status=Message.Status.REFUSED)),
        )
        .order_by("-tokens_out", "-tokens_in", "-replies")[:limit]
    )
    return [
        UsageRow(
            key=r[group],
            name=str(r[name] or f"#{r[group]}"),
            replies=r["replies"],
            tokens_in=int(r["tokens_in"]),
            tokens_out=int(r["tokens_out"]),
            held=r["held"],
            refused=r["refused"],
        )
        for r in rows
    ]


def usage_by_user(*, since: datetime, limit: int = TOP) -> list[UsageRow]:
    """The users with the most tokens since ``since`` (ties: most replies)."""
    return _usage("conversation__owner_id", "conversation__owner__username", since, limit)


def usage_by_conversation(*, since: datetime, limit: int = TOP) -> list[UsageRow]:
    """The conversations with the most tokens since ``since``."""
    return _usage("conversation_id", "conversation__title", since, limit)


def calibration_decisions(*, since: datetime) -> list[calibration.ReasonDecision]:
    """Every reason of every review item queued since ``since``, with the item's decision."""
    decisions = []
    items = ReviewItem.objects.filter(created_at__gte=since).values_list("reasons", "decision")
    for reasons, decision in items.iterator():
        for reason in reasons or []:
            decisions.append(
                calibration.ReasonDecision(
                    check=str(reason.get("check", "?")),
                    label=str(reason.get("label") or reason.get("pattern") or "?"),
                    score=float(reason.get("score") or 0.0),
                    decision=decision or "",
                )
            )
    return decisions


def evaluation_reports() -> list[tuple[str, dict[str, Any]]]:
    """The readable reports of ``GUARDRAILS_EVAL_REPORTS`` as (file name, report); bad ones logged."""
    reports = []
    for name in settings.GUARDRAILS_EVAL_REPORTS:
        try:
            reports.append((Path(name).name, json.loads(Path(name).read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            logger.warning("evaluation report %s unreadable: %s", name, exc)
    return reports


@dataclass(frozen=True, slots=True)
class Calibration:
    rows: list[calibration.CheckRow]
    flagged: list[calibration.CheckRow]
    suggestions: list[calibration.ThresholdSuggestion]

    def text(self) -> str:
        return calibration.format_calibration(self.rows, self.suggestions, flagged=self.flagged)


def calibration_report(
    *, since: datetime, precision: float = DEFAULT_PRECISION, reports: list[tuple[str, dict[str, Any]]] | None = None
) -> Calibration:
    """Per check and label: holds, overturned, confirmed; the most overturned; threshold
    suggestions for toxicity labels from decisions and from evaluation reports."""
    decisions = calibration_decisions(since=since)
    rows = calibration.check_rows(decisions)
    suggestions = calibration.reviewer_suggestions(decisions, target=precision)
    for name, report in evaluation_reports() if reports is None else reports:
        suggestion = calibration.report_suggestion(report, target=precision, source=name)
        if suggestion is not None:
            suggestions.append(suggestion)
    return Calibration(rows, calibration.most_overturned(rows), suggestions)
