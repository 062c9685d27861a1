"""HTTP views: small, authenticate → call a selector/service → render."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers; which models and backend are active."""
    checks: dict[str, object] = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # report, don't crash the probe
        ok, checks["database"] = False, f"error: {exc.__class__.__name__}"
    checks["llm"] = {"base_url": settings.LLM_BASE_URL, "api": settings.LLM_API, "model": settings.LLM_MODEL}
    checks["channel_layer"] = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/index.html", {})
