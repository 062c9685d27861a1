"""WebSocket handshake authentication: API keys for programs, sessions for browsers.

A browser's session cookie is sent by the browser on any page's request, so a session
is honoured only with an allowed ``Origin`` (cross-site WebSocket hijacking). Programs
authenticate with ``Authorization: Bearer <key>`` and may omit ``Origin``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from chat import services


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    if settings.WS_ALLOWED_ORIGINS:
        return origin.rstrip("/") in settings.WS_ALLOWED_ORIGINS
    parts = urlsplit(origin)
    return (
        parts.scheme in {"http", "https"}
        and bool(parts.hostname)
        and validate_host(parts.hostname, settings.ALLOWED_HOSTS)
    )


class ChatAuthMiddleware:
    """Sets ``scope["user"]``: the key's owner, the session's user, or AnonymousUser."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.with_session = AuthMiddlewareStack(inner)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        authorization = headers.get(b"authorization", "")
        if authorization[:7].lower() == "bearer ":
            user = await database_sync_to_async(services.api_key_authenticate)(raw=authorization[7:].strip())
            return await self.inner({**scope, "user": user or AnonymousUser(), "auth": "api_key"}, receive, send)
        if not origin_allowed(headers.get(b"origin")):
            return await self.inner({**scope, "user": AnonymousUser(), "auth": "refused_origin"}, receive, send)
        return await self.with_session({**scope, "auth": "session"}, receive, send)
