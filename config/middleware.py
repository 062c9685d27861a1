"""Project-wide HTTP middleware."""

from __future__ import annotations

from dataclasses import replace

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the page's own WebSocket origin added to ``connect-src``.

    ``'self'`` covers ``ws:``/``wss:`` to the same host only in CSP Level 3 browsers; naming the
    origin (taken from the request, as the page's script builds its URL from ``location.host``)
    keeps older ones working without opening ``connect-src`` to any other host.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:  # no report-only policy is configured; adding to it would create one
            return parts
        scheme = "wss" if request.is_secure() else "ws"
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), f"{scheme}://{request.get_host()}"]
        return replace(parts, update=update)
