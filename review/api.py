"""The review JSON API (``/api/reviews/``) for reviewers and helpdesk integrations.

Authentication: a session (browsers; CSRF enforced on POST) or ``Authorization: Bearer <key>``
(programs; no CSRF). The user needs ``review.review_replies``. No or bad credentials →
401, no permission → 403. The services' domain errors map to HTTP here (:data:`HTTP_STATUS`):
unknown item → 404, a conflict → 409, bad input → 400. Every error is ``{"code", "detail"}``
with a plain message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.paginator import EmptyPage, Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from chat.requests import AuthenticatedHttpRequest
from chat.services import api_key_authenticate
from review import selectors, services
from review.models import ReviewItem
from review.services import ReviewConflict, ReviewError, ReviewForbidden, ReviewInvalid, ReviewNotFound

PAGE_SIZE = 20
PAGE_SIZE_MAX = 100

View = Callable[..., JsonResponse]

# The review services' refusals as HTTP statuses.
HTTP_STATUS: dict[type[ReviewError], int] = {
    ReviewInvalid: 400,
    ReviewForbidden: 403,
    ReviewNotFound: 404,
    ReviewConflict: 409,
}

# What "decision" may say: the outcome words, and the verbs this API accepted first.
DECISION_INPUT: dict[str, str] = {**services.DECISION_VERBS, **{d: d for d in ReviewItem.Decision.values}}


def http_status(exc: ReviewError) -> int:
    """The HTTP status of a review service's refusal (400 for one not in :data:`HTTP_STATUS`)."""
    return next((status for cls, status in HTTP_STATUS.items() if isinstance(exc, cls)), 400)


def error(status: int, code: str, detail: str) -> JsonResponse:
    response = JsonResponse({"code": code, "detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="reviews"'
    return response


def _csrf_failure(request: HttpRequest) -> JsonResponse | None:
    def no_view(_: HttpRequest) -> HttpResponse:  # never called: only the CSRF check runs
        return HttpResponse(status=204)

    middleware = CsrfViewMiddleware(no_view)
    middleware.process_request(request)
    if middleware.process_view(request, no_view, (), {}) is not None:
        return error(403, "csrf_failed", "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken.")
    return None


def allow(*methods: str) -> Callable[[View], View]:
    """Like ``require_http_methods``, with a JSON 405."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                response = error(405, "method_not_allowed", f"Use {' or '.join(methods)} here.")
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def reviewer_required(view: View) -> View:
    """Session or bearer key; 401 without credentials, 403 without the review permission."""

    @csrf_exempt  # bearer requests need none; session requests are checked below
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        authorization = request.headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            user = api_key_authenticate(raw=authorization[7:].strip())
            if user is None:
                return error(401, "unauthorized", "Unknown or revoked API key.")
            request.user = user
        elif not request.user.is_authenticated:
            return error(401, "unauthorized", "Sign in, or send Authorization: Bearer <API key>.")
        elif request.method not in ("GET", "HEAD", "OPTIONS") and (failure := _csrf_failure(request)):
            return failure
        if not request.user.has_perm(services.REVIEW_PERMISSION):
            return error(403, "forbidden", f"You need the review permission ({services.REVIEW_PERMISSION}).")
        try:
            return view(request, *args, **kwargs)
        except ReviewError as exc:
            return error(http_status(exc), exc.code, exc.detail)

    return wrapper


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; ``ReviewInvalid`` for anything else (the adapters answer 400)."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise ReviewInvalid("Send a JSON object.") from None
    if not isinstance(body, dict):
        raise ReviewInvalid("Send a JSON object.")
    return body


def _text_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name) or ""
    if not isinstance(value, str):
        raise ReviewInvalid(f'"{name}" must be text.')
    return value


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ReviewInvalid(f'"{name}" must be a positive whole number.')
    return int(raw)


@allow("GET")
@reviewer_required
def review_list(request: AuthenticatedHttpRequest) -> JsonResponse:
    """``?status=pending|claimed|overdue|decided|expired|open|all`` (default ``open``),
    ``&page=N&page_size=N`` → ``{count, page, pages, results: [item, ...]}``."""
    status = request.GET.get("status", "open")
    if status not in selectors.STATUS_FILTERS:
        raise ReviewInvalid(f'"status" must be one of: {", ".join(selectors.STATUS_FILTERS)}.')
    size = min(_int_param(request, "page_size", PAGE_SIZE), PAGE_SIZE_MAX)
    paginator = Paginator(selectors.review_items(status=status), size)
    number = _int_param(request, "page", 1)
    try:
        page = paginator.page(number)
    except EmptyPage:
        if number != 1:
            raise ReviewNotFound(f"There is no page {number}; there are {paginator.num_pages}.") from None
        page = paginator.page(1)  # allow_empty_first_page: an empty queue is one empty page
    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "results": [selectors.review_item_json(item) for item in page.object_list],
        }
    )


def _item_response(item_id: int) -> JsonResponse:
    item = selectors.review_item(item_id=item_id)
    if item is None:
        raise ReviewNotFound("No such review item.")
    return JsonResponse(selectors.review_item_json(item))


@allow("GET")
@reviewer_required
def review_detail(request: AuthenticatedHttpRequest, item_id: int) -> JsonResponse:
    return _item_response(item_id)


@allow("POST")
@reviewer_required
def review_claim(request: AuthenticatedHttpRequest, item_id: int) -> JsonResponse:
    services.review_item_claim(item_id=item_id, user=request.user)
    return _item_response(item_id)


@allow("POST")
@reviewer_required
def review_release(request: AuthenticatedHttpRequest, item_id: int) -> JsonResponse:
    services.review_item_release(item_id=item_id, user=request.user)
    return _item_response(item_id)


@allow("POST")
@reviewer_required
def review_decision(request: AuthenticatedHttpRequest, item_id: int) -> JsonResponse:
    """``{"decision": "approved"|"rejected"|"edited", "text": "...", "note": "..."}``; the verbs
    ``approve``, ``reject`` and ``edit`` are accepted too. The answer uses the outcome words."""
    body = json_body(request)
    decision = body.get("decision")
    if not isinstance(decision, str) or decision not in DECISION_INPUT:
        raise ReviewInvalid('"decision" must be "approved", "rejected" or "edited" (or approve, reject, edit).')
    services.review_item_decide(
        item_id=item_id,
        user=request.user,
        decision=DECISION_INPUT[decision],
        text=_text_field(body, "text"),
        note=_text_field(body, "note"),
    )
    return _item_response(item_id)
