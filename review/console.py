"""The support-agent console (``/console/``): the page, and the JSON it reads and writes.

Who: a signed-in session (a password login, not an API key) with ``review.review_replies``.
Anonymous visitors are sent to the login page (the page) or get 401 (the JSON); signed-in
users without the permission get 403. POSTs go through Django's CSRF middleware. Claim,
release and decision use the review JSON API (``/api/reviews/<id>/…``, review/api.py); this
module adds what only the console needs: the queue's rows, one item with notes and audit
trail, notes, bulk decisions and the header's numbers. Refusals are ``{"code", "detail"}``
with the statuses of :data:`review.api.HTTP_STATUS`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from review import selectors, services
from review.api import error, http_status, json_body
from review.models import ReviewItem
from review.services import ReviewError, ReviewInvalid, ReviewNotFound

PAGE_SIZE = 50
BULK_MAX = 100
# The decisions bulk may apply: an edit needs its own text.
BULK_DECISIONS = (ReviewItem.Decision.APPROVED.value, ReviewItem.Decision.REJECTED.value)

# The queue's tabs, in order: (status filter, label).
FILTER_LABELS = [
    ("open", "Open"),
    ("pending", "Unclaimed"),
    ("mine", "Mine"),
    ("claimed", "Claimed"),
    ("overdue", "Overdue"),
    ("decided", "History"),
]

JsonView = Callable[..., JsonResponse]


def is_reviewer(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(services.REVIEW_PERMISSION))


@login_required
@require_GET
def console_page(request: HttpRequest) -> HttpResponse:
    """The console; 403 for a signed-in user without the review permission."""
    if not is_reviewer(request.user):
        raise PermissionDenied("You need the review permission to use the console.")
    return render(request, "console/index.html", {"claim_minutes": services.claim_minutes(), "filters": FILTER_LABELS})


def reviewer_json(view: JsonView) -> JsonView:
    """Session only: 401 signed out, 403 without the permission; review errors as JSON."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not request.user.is_authenticated:
            return error(401, "unauthorized", "Your session has ended: sign in again.")
        if not is_reviewer(request.user):
            return error(403, "forbidden", f"You need the review permission ({services.REVIEW_PERMISSION}).")
        try:
            return view(request, *args, **kwargs)
        except ReviewError as exc:
            return error(http_status(exc), exc.code, exc.detail)

    return wrapper


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # reviewer_json let only a signed-in user through
    return user


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ReviewInvalid('"page" must be a positive whole number.')
    return int(raw)


@require_GET
@reviewer_json
def console_items(request: HttpRequest) -> JsonResponse:
    """``?status=open|pending|claimed|mine|overdue|decided&check=&pattern=&q=&page=N`` →
    ``{count, page, pages, results: [row, ...], stats}``. A page past the end is the last."""
    status = request.GET.get("status", "open")
    if status not in selectors.CONSOLE_FILTERS:
        raise ReviewInvalid(f'"status" must be one of: {", ".join(selectors.CONSOLE_FILTERS)}.')
    at = services.now()
    items = selectors.console_items(
        user=_user(request),
        status=status,
        check=request.GET.get("check", ""),
        pattern=request.GET.get("pattern", ""),
        query=request.GET.get("q", ""),
        at=at,
    )
    paginator = Paginator(items, PAGE_SIZE)
    page = paginator.get_page(_page_number(request))
    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "results": [selectors.console_row_json(item) for item in page.object_list],
            "stats": selectors.console_stats(at=at),
            "now": at.isoformat(),
        }
    )


def _item_response(item_id: int) -> JsonResponse:
    item = selectors.review_item(item_id=item_id)
    if item is None:
        raise ReviewNotFound("No such review item.")
    return JsonResponse({**selectors.console_item_json(item), "now": services.now().isoformat()})


@require_GET
@reviewer_json
def console_item(request: HttpRequest, item_id: int) -> JsonResponse:
    """One item: its reply and context, reasons, notes, audit trail, claim time box."""
    return _item_response(item_id)


@require_POST
@reviewer_json
def console_note(request: HttpRequest, item_id: int) -> JsonResponse:
    """``{"text": "..."}`` → the item, with the note added."""
    text = json_body(request).get("text")
    if not isinstance(text, str):
        raise ReviewInvalid('"text" must be text.')
    services.review_note_add(item_id=item_id, user=_user(request), text=text)
    return _item_response(item_id)


@require_POST
@reviewer_json
def console_bulk(request: HttpRequest) -> JsonResponse:
    """``{"ids": [...], "decision": "approved"|"rejected"}`` → ``{"decided": [id, ...],
    "skipped": [{"id", "code", "detail", "claimed_by"}, ...]}``. Each item is decided (and
    audited) on its own, so one refusal never undoes the others."""
    body = json_body(request)
    ids, decision = body.get("ids"), body.get("decision")
    if decision not in BULK_DECISIONS:
        raise ReviewInvalid('"decision" must be "approved" or "rejected" (an edit needs its own text).')
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids) or len(ids) > BULK_MAX:
        raise ReviewInvalid(f'"ids" must be a list of 1 to {BULK_MAX} item ids.')
    decided: list[int] = []
    skipped: list[dict[str, Any]] = []
    for item_id in dict.fromkeys(ids):
        try:
            services.review_item_decide(item_id=item_id, user=_user(request), decision=str(decision))
        except ReviewError as exc:
            holder = ReviewItem.objects.filter(pk=item_id).values_list("claimed_by__username", flat=True).first()
            skipped.append({"id": item_id, "code": exc.code, "detail": exc.detail, "claimed_by": holder})
        else:
            decided.append(item_id)
    return JsonResponse({"decided": decided, "skipped": skipped})


@require_GET
@reviewer_json
def console_stats(request: HttpRequest) -> JsonResponse:
    return JsonResponse(selectors.console_stats(at=services.now()))
