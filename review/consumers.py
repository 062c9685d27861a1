"""The console WebSocket (``/ws/console/``): pushes queue changes to every open console.

Joins the ``reviewers`` group, which ``review.services`` tells (after commit, through the
channel layer, so from any process) about every item created, claimed, released, noted,
decided, escalated or expired. Frames out: ``{"type": "console_ready", "user"}`` once, then
``{"type": "review_item", "event", "item": <summary>}``; a ``{"type": "ping"}`` is answered
with ``{"type": "pong"}``. The socket carries no decisions (those are CSRF-checked HTTP).

Who: a browser session (not an API key) of an active user with ``review.review_replies``,
checked at the handshake (refused with 403 otherwise), on every frame the client sends, and
at most every :data:`RECHECK_S` seconds while events arrive; an agent who lost the
permission gets ``{"type": "error", "code": "forbidden"}`` and is disconnected (4403).
"""

from __future__ import annotations

import json
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import User

from chat.access import AccessGuard
from chat.dispatch import DirectDispatch
from observability import metrics
from review import services

RECHECK_S = 5.0
CLOSE_FORBIDDEN = 4403


def _still_reviewer(user_id: int) -> bool:
    # A fresh instance: has_perm caches a user's permissions on the instance.
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return user is not None and user.has_perm(services.REVIEW_PERMISSION)


class ConsoleConsumer(DirectDispatch, AccessGuard, AsyncWebsocketConsumer):
    # Closed at once (across processes) when the agent signs out, is deactivated or loses the
    # permission; RECHECK_S below also re-checks while events arrive.
    access_permission = services.REVIEW_PERMISSION
    user_id: int
    checked_at: float
    counted = False  # whether this socket is in the open-sockets gauge

    async def connect(self) -> None:
        user = self.scope.get("user")
        if (
            user is None
            or not user.is_authenticated
            or self.scope.get("auth") != "session"
            or not await database_sync_to_async(_still_reviewer)(user.pk)
        ):
            await self.close()  # before accept: the handshake is refused with 403
            return
        self.user_id = user.pk
        self.checked_at = time.monotonic()
        await self.channel_layer.group_add(services.REVIEWERS_GROUP, self.channel_name)
        await self.accept()
        metrics.SOCKETS_OPEN.labels(kind="console").inc()
        self.counted = True
        await self.access_watch()
        await self.send_json({"type": "console_ready", "user": user.get_username()})

    async def disconnect(self, code: int) -> None:
        if self.counted:
            metrics.SOCKETS_OPEN.labels(kind="console").dec()
            self.counted = False
        await self.access_unwatch()
        await self.channel_layer.group_discard(services.REVIEWERS_GROUP, self.channel_name)

    async def send_json(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame))

    async def allowed(self, *, force: bool) -> bool:
        """Whether the user may still review; closes the socket when not."""
        if not force and time.monotonic() - self.checked_at < RECHECK_S:
            return True
        if await database_sync_to_async(_still_reviewer)(self.user_id):
            self.checked_at = time.monotonic()
            return True
        await self.access_revoked()
        return False

    async def access_revoked(self) -> None:
        """The agent signed out, was deactivated or lost the permission (told at once through
        AccessGuard, or found by the re-check above): one answer, whichever saw it first."""
        await self.send_json(
            {"type": "error", "code": "forbidden", "detail": "You no longer have the review permission."}
        )
        await self.close(code=CLOSE_FORBIDDEN)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not await self.allowed(force=True):
            return
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            frame = None
        if isinstance(frame, dict) and frame.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {"type": "error", "code": "bad_frame", "detail": 'Only {"type": "ping"} is read here.'}
            )

    async def review_item(self, message: dict[str, Any]) -> None:
        """Group message ``review.item`` from review.services."""
        if await self.allowed(force=False):
            await self.send_json({"type": "review_item", "event": message["event"], "item": message["item"]})
