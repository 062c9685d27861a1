"""HTTP views: small, authenticate → call a selector/service → render."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from chat import selectors, services, throttle, warmup
from chat.errors import Invalid, NotFound
from chat.models import Rating
from chat.requests import AuthenticatedHttpRequest
from guardrails.health import active_toxicity_model

RATING_COMMENT_MAX = 2000


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers and the process is warm; which models and backend are
    active."""
    checks: dict[str, object] = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # report, don't crash the probe
        ok, checks["database"] = False, f"error: {exc.__class__.__name__}"
    checks["llm"] = {"base_url": settings.LLM_BASE_URL, "api": settings.LLM_API, "model": settings.LLM_MODEL}
    checks["channel_layer"] = str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).rsplit(".", 1)[-1]
    # Which toxicity model guards replies; "fallback": true means the weak stand-in is active.
    checks["toxicity_model"] = active_toxicity_model()
    # Warm-up (chat.warmup): until the checks ran once and the LLM server answered, "warming".
    checks["warm_up"] = warm = warmup.state()
    status = "ok" if ok and warm["warm"] else ("warming" if ok else "unavailable")
    return JsonResponse({"status": status, "checks": checks}, status=200 if status == "ok" else 503)


# --- Pages ------------------------------------------------------------------------------


def sign_in_locked(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): what happened and when to retry."""
    context = {"failure_limit": settings.AUTH_FAILURE_LIMIT, "minutes": settings.AUTH_LOCKOUT_MINUTES}
    return render(request, "registration/locked_out.html", context, status=429)


def sign_in_slowed(request: HttpRequest, seconds: int) -> HttpResponse:
    """The answer to a sign-in that came too soon after the last failures (chat.throttle's rule)."""
    context = {"message": throttle.wait_message("sign-ins", seconds), "seconds": seconds}
    response = render(request, "registration/slowed.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _chat_page(request: AuthenticatedHttpRequest, conversation_id: int | None, title: str) -> HttpResponse:
    context = {
        "conversations": selectors.conversation_list_for_user(user=request.user),
        "conversation_id": conversation_id,
        "title": title,
        "page_data": {
            "conversation_id": conversation_id,
            "placeholder": settings.GUARDRAILS_PLACEHOLDER,
            "max_input_chars": settings.GUARDRAILS_MAX_INPUT_CHARS,
            "review_sla_minutes": settings.REVIEW_SLA_MINUTES,
        },
    }
    return render(request, "chat/index.html", context)


@login_required
def index(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new, empty conversation: it is created by the first message."""
    return _chat_page(request, None, "New conversation")


@login_required
def conversation_page(request: AuthenticatedHttpRequest, conversation_id: int) -> HttpResponse:
    conversation = selectors.conversation_for_user(user=request.user, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation.")
    # Opening the conversation shows its review decisions: its badge in the list goes.
    services.conversation_mark_seen(user=request.user, conversation_id=conversation.pk)
    return _chat_page(request, conversation.pk, str(conversation))


# --- JSON API (session auth, CSRF on writes) --------------------------------------------


def _api_login_required(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """Like login_required, but a JSON 401 instead of a redirect to the login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"code": "unauthorized", "detail": "Sign in first."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


def _not_found(detail: str) -> JsonResponse:
    return JsonResponse({"code": "not_found", "detail": detail}, status=404)


def _bad_request(detail: str) -> JsonResponse:
    return JsonResponse({"code": "bad_request", "detail": detail}, status=400)


@require_GET
@_api_login_required
def api_conversations(request: AuthenticatedHttpRequest) -> JsonResponse:
    """``{"conversations": [{id, title, updated_at, decision_unseen}, ...]}``, newest first;
    ``?q=`` keeps those whose title or text contains it."""
    query = request.GET.get("q", "")[:200]
    return JsonResponse({"conversations": selectors.conversation_list_for_user(user=request.user, query=query)})


def _json_body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@require_POST
@_api_login_required
def api_conversation_rename(request: AuthenticatedHttpRequest, conversation_id: int) -> JsonResponse:
    """JSON ``{title}`` → ``{id, title}``."""
    body = _json_body(request)
    if body is None or not isinstance(body.get("title"), str):
        return _bad_request('Send a JSON object with a "title".')
    try:
        conversation = services.conversation_rename(
            user=request.user, conversation_id=conversation_id, title=body["title"]
        )
    except NotFound as exc:
        return _not_found(exc.detail)
    except Invalid as exc:
        return _bad_request(exc.detail)
    return JsonResponse({"id": conversation.pk, "title": conversation.title})


@require_POST
@_api_login_required
def api_conversation_delete(request: AuthenticatedHttpRequest, conversation_id: int) -> JsonResponse:
    """Hide the conversation from its owner (soft delete) → ``{id, deleted: true}``."""
    try:
        services.conversation_delete(user=request.user, conversation_id=conversation_id)
    except NotFound as exc:
        return _not_found(exc.detail)
    return JsonResponse({"id": conversation_id, "deleted": True})


@require_POST
@_api_login_required
def api_conversation_seen(request: AuthenticatedHttpRequest, conversation_id: int) -> JsonResponse:
    """The owner saw the conversation's review decisions (a decision arrived while it was open)."""
    if selectors.conversation_for_user(user=request.user, conversation_id=conversation_id) is None:
        return _not_found("No such conversation.")
    services.conversation_mark_seen(user=request.user, conversation_id=conversation_id)
    return JsonResponse({"id": conversation_id, "decision_unseen": False})


@require_GET
@_api_login_required
def api_conversation(request: AuthenticatedHttpRequest, conversation_id: int) -> JsonResponse:
    """The snapshot the page starts from: ``{id, title, messages, after_seq, resume_after}``."""
    # A reply whose server died is ended first, so it does not show "Generating" for good.
    services.conversation_dead_turns_fail(conversation_id=conversation_id)
    snapshot = selectors.conversation_snapshot(user=request.user, conversation_id=conversation_id)
    if snapshot is None:
        return _not_found("No such conversation.")
    return JsonResponse(snapshot)


def _rating_json(rating: Rating) -> dict[str, Any]:
    return {
        "message_id": rating.message_id,
        "value": rating.value,
        "reason": rating.reason or None,
        "comment": rating.comment,
        "updated_at": rating.updated_at,
    }


@require_POST
@_api_login_required
def api_message_rating(request: AuthenticatedHttpRequest, message_id: int) -> JsonResponse:
    """Set (or change) the user's rating of a reply: JSON ``{value: 1|-1, comment?, reason?, report?}``.

    ``reason`` (``harmful``, ``made_up``, ``other``) goes with a thumbs down; ``report: true``
    also sends the reply to the review queue as a user report (once per reply)."""
    body = _json_body(request)
    if body is None:
        return _bad_request("Send a JSON object.")
    value, comment = body.get("value"), body.get("comment") or ""
    if isinstance(value, bool) or value not in (1, -1):
        return _bad_request('"value" must be 1 (thumbs up) or -1 (thumbs down).')
    if not isinstance(comment, str) or len(comment) > RATING_COMMENT_MAX:
        return _bad_request(f'"comment" must be text of at most {RATING_COMMENT_MAX} characters.')
    reason, report = body.get("reason") or "", body.get("report", False)
    if reason not in ("", *Rating.Reason.values) or (reason and value != -1):
        return _bad_request('"reason" goes with a thumbs down: "harmful", "made_up" or "other".')
    if not isinstance(report, bool) or (report and value != -1):
        return _bad_request('"report" must be true or false, and only a thumbs down (-1) can be reported.')
    try:
        rating = services.rating_set(
            user=request.user, message_id=message_id, value=value, comment=comment.strip(), reason=reason, report=report
        )
    except NotFound as exc:
        return _not_found(exc.detail)
    return JsonResponse(_rating_json(rating))
