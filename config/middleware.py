"""Project-wide HTTP middleware."""

from __future__ import annotations

from dataclasses import replace

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from chat import throttle
from chat import views as chat_views


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


class SignInSlowdownMiddleware(MiddlewareMixin):
    """Refuses a sign-in POST that comes too soon after the last failures, before it is checked.

    The rule and the counts are chat.throttle's (django-axes' counts per username and per
    address); the answer is HTTP 429 with the seconds left. Placed after CsrfViewMiddleware, so
    a forged POST is refused for that first.
    """

    SIGN_IN_VIEWS = frozenset({"login", "admin:login"})

    def process_view(
        self, request: HttpRequest, view_func: object, view_args: object, view_kwargs: object
    ) -> HttpResponseBase | None:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in self.SIGN_IN_VIEWS:
            return None
        seconds = throttle.sign_in_wait(request)
        return chat_views.sign_in_slowed(request, seconds) if seconds else None
