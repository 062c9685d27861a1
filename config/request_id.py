"""Request ids for the logs: every HTTP request's log lines carry one (``observability.logs``)."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from observability import logs

# A caller's (a proxy's) X-Request-ID is kept when it looks like an id, so lines join up across hops.
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIdMiddleware:
    """Bind ``request_id`` (the caller's ``X-Request-ID`` or a new one) and echo it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _ID.fullmatch(given) else logs.new_request_id()
        with logs.bound(request_id=request_id, conversation_id=None, message_id=None):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
