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

from chat import protocol, services, throttle
from chat.protocol import ErrorCode


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    if settings.WS_ALLOWED_ORIGINS:
        return origin.rstrip("/") in settings.WS_ALLOWED_ORIGINS
    parts = urlsplit(origin)
    host = parts.hostname
    return parts.scheme in {"http", "https"} and bool(host) and validate_host(host or "", settings.ALLOWED_HOSTS)


THROTTLED_CLOSE_CODE = 4429  # an application close code: "too many requests"


async def refuse_throttled(receive: Any, send: Any, detail: str) -> None:
    """Answer a throttled handshake with a reason a program can read (``detail``), then close.

    A refused handshake (HTTP 403) carries no explanation through ASGI servers, so the socket
    is accepted just long enough for one protocol ``error`` frame (``rate_limited``).
    """
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": protocol.dumps(protocol.error_frame(ErrorCode.RATE_LIMITED, detail))})
    await send({"type": "websocket.close", "code": THROTTLED_CLOSE_CODE})


def _locked_detail() -> str:
    minutes = f"{settings.AUTH_LOCKOUT_MINUTES:g}"
    return (
        f"Too many failed API keys from this address: handshakes are refused for {minutes} minutes "
        "after the last failure, whatever key they carry."
    )


class ChatAuthMiddleware:
    """Sets ``scope["user"]``: the key's owner, the session's user, or AnonymousUser."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        # Any: channels types its stack for its own scope TypedDicts; ours passes plain dicts.
        self.with_session: Any = AuthMiddlewareStack(inner)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        authorization = headers.get(b"authorization", "")
        if authorization[:7].lower() == "bearer ":
            address = (scope.get("client") or ("unknown",))[0]
            # Too many bad keys: refused before any lookup, whatever key this one is.
            if await throttle.locked(address):
                return await refuse_throttled(receive, send, _locked_detail())
            if seconds := await throttle.wait(address):
                return await refuse_throttled(
                    receive, send, throttle.wait_message("API keys from this address", seconds)
                )
            user = await database_sync_to_async(services.api_key_authenticate)(raw=authorization[7:].strip())
            if user is None:
                await throttle.failure_record(address)
            else:
                await throttle.failures_clear(address)
            # The key's prefix (gsc_<prefix>_<secret>) lets the socket re-check it later (chat.access).
            prefix = authorization[7:].strip().removeprefix(services.API_KEY_PREFIX).split("_")[0]
            scope = {**scope, "user": user or AnonymousUser(), "auth": "api_key", "api_key_prefix": prefix}
            return await self.inner(scope, receive, send)
        if not origin_allowed(headers.get(b"origin")):
            return await self.inner({**scope, "user": AnonymousUser(), "auth": "refused_origin"}, receive, send)
        return await self.with_session({**scope, "auth": "session"}, receive, send)
