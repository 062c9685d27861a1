"""``/console/usage/``: usage, cost and calibration over a period, for reviewers. Text only."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from review import usage
from review.services import REVIEW_PERMISSION

PERIODS = (1, 7, 30, 90)


def _number(value: str | None, default: float, low: float, high: float) -> float:
    try:
        return min(high, max(low, float(value))) if value else default
    except ValueError:
        return default


@require_GET
@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
def usage_page(request: HttpRequest) -> HttpResponse:
    """Top users and conversations by tokens, cost, holds and refusals; calibration from decisions.

    Query: ``days`` (1, 7, 30 or 90; default 7), ``precision`` (0.5-0.99; default 0.9).
    """
    days = int(_number(request.GET.get("days"), 7, 1, 90))
    precision = _number(request.GET.get("precision"), usage.DEFAULT_PRECISION, 0.5, 0.99)
    since = usage.period_start(days)
    context = {
        "days": days,
        "periods": PERIODS,
        "precision": precision,
        "since": since,
        "users": usage.usage_by_user(since=since),
        "conversations": usage.usage_by_conversation(since=since),
        "calibration": usage.calibration_report(since=since, precision=precision),
    }
    return render(request, "console/usage.html", context)
