"""Sockets whose credentials stop being valid are closed within seconds, on every process.

A socket is authorised once, at its handshake; this module keeps that true while it stays open.
Each socket joins its user's group (:func:`user_group`) on the channel layer. Whatever can
end a user's access tells that group to re-check (:func:`notify_user`): an API key revoked
(``services.api_key_revoke``), a sign-out (``user_logged_out``; the ended session is named,
since Django flushes it only after the signal), a user saved (``is_active`` off, password
changed), permissions or groups changed. Each socket then re-checks its own credential in the
database (:func:`credential_valid`) and closes with :data:`CLOSE_CODE` if it is gone. A periodic
re-check (``CHAT_ACCESS_RECHECK_SECONDS``) is the safety net for a missed message (a Redis blip).

Any consumer uses it through :class:`AccessGuard`::

    class ConsoleConsumer(AccessGuard, AsyncWebsocketConsumer):
        access_permission = "review.review_replies"   # also re-checked; None for none

        async def connect(self):
            ...  # authenticate and authorise as usual, then
            await self.accept()
            await self.access_watch()

        async def disconnect(self, code):
            await self.access_unwatch()

The layer message type is ``access.check`` (handled by :meth:`AccessGuard.access_check`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string

from chat import protocol
from chat.models import ApiKey
from chat.protocol import ErrorCode

logger = logging.getLogger(__name__)

ACCESS_CHECK = "access.check"
#: The close code of a socket whose credential was revoked (an application code: "unauthorised").
#: The page reconnects; the new handshake is refused, which sends it to sign in.
CLOSE_CODE = 4401


def user_group(user_id: int) -> str:
    """The group of every socket a user has open, on any process."""
    return f"chat.user.{user_id}"


def notify_user(user_id: int, *, ended_session: str | None = None) -> None:
    """From sync code: ask every socket of the user to re-check its credential, after commit.

    Best effort: if the layer is down, the periodic re-check closes the sockets instead.
    """

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        message: dict[str, Any] = {"type": ACCESS_CHECK}
        if ended_session:
            message["ended_session"] = ended_session
        try:
            async_to_sync(layer.group_send)(user_group(user_id), message)
        except Exception as exc:
            logger.warning("could not tell user %s's sockets to re-check access: %r", user_id, exc)

    transaction.on_commit(send)


def credential_valid(scope: dict[str, Any], *, permission: str | None = None) -> bool:
    """Whether the credential a socket was opened with still holds (reads the database).

    The user must still exist and be active; an API key must not be revoked; a session must
    still exist, belong to the user and match the user's current password; ``permission``,
    if given, must still be granted.
    """
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return False
    if scope.get("auth") == "api_key" and permission is None:
        # One query (each socket asks every CHAT_ACCESS_RECHECK_SECONDS): an active user's key, not revoked.
        keys = ApiKey.objects.filter(prefix=scope.get("api_key_prefix", ""), user_id=user.pk, revoked_at__isnull=True)
        return keys.filter(user__is_active=True).exists()
    fresh = get_user_model().objects.filter(pk=user.pk, is_active=True).first()
    if fresh is None:
        return False
    if scope.get("auth") == "api_key":
        prefix = scope.get("api_key_prefix", "")
        if not ApiKey.objects.filter(prefix=prefix, user=fresh, revoked_at__isnull=True).exists():
            return False
    else:
        session_key = getattr(scope.get("session"), "session_key", None)
        if not session_key:
            return False
        store = import_string(settings.SESSION_ENGINE + ".SessionStore")
        session = store(session_key)
        if not session.exists(session_key) or session.get(SESSION_KEY) != str(fresh.pk):
            return False
        if not constant_time_compare(session.get(HASH_SESSION_KEY, ""), fresh.get_session_auth_hash()):
            return False
    return permission is None or fresh.has_perm(permission)


class AccessGuard:
    """Mixin for an ``AsyncWebsocketConsumer``: close the socket once its credential is gone."""

    access_permission: str | None = None
    scope: Any
    channel_layer: Any
    channel_name: str
    _access_task: asyncio.Task[None] | None = None

    async def access_watch(self) -> None:
        """Call once accepted: join the user's group and start the periodic re-check."""
        with contextlib.suppress(Exception):  # the periodic re-check still runs
            await self.channel_layer.group_add(user_group(self.scope["user"].pk), self.channel_name)
        self._access_task = asyncio.create_task(self._recheck_periodically(), name="access-recheck")

    async def access_unwatch(self) -> None:
        """Call from ``disconnect``."""
        if self._access_task is not None:
            self._access_task.cancel()
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(user_group(user.pk), self.channel_name)

    async def access_check(self, message: dict[str, Any]) -> None:
        """``access.check``: close this socket if its credential no longer holds."""
        session = self.scope.get("session")
        ended = message.get("ended_session")
        signed_out = ended is not None and ended == getattr(session, "session_key", None)
        if signed_out or not await database_sync_to_async(credential_valid)(
            self.scope, permission=self.access_permission
        ):
            await self.access_revoked()

    async def access_revoked(self) -> None:
        """Tell the client why, then close (the handshake of its reconnect is refused)."""
        detail = "Your sign-in or API key is no longer valid; sign in again."
        await self.send(text_data=protocol.dumps(protocol.error_frame(ErrorCode.UNAUTHORIZED, detail)))  # type: ignore[attr-defined]
        await self.close(code=CLOSE_CODE)  # type: ignore[attr-defined]

    async def _recheck_periodically(self) -> None:
        while True:
            await asyncio.sleep(settings.CHAT_ACCESS_RECHECK_SECONDS)  # wait-ok: the safety-net period
            try:
                await self.access_check({})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: try again next period
                logger.warning("periodic access re-check failed: %r", exc)


# --- What ends access (receivers; connected by importing this module in ChatConfig.ready) ----


@receiver(user_logged_out)
def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        notify_user(user.pk, ended_session=getattr(getattr(request, "session", None), "session_key", None))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created:  # is_active, password (session hash), is_superuser/is_staff may have changed
        notify_user(instance.pk)


@receiver(m2m_changed)
def _on_permissions_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if not action.startswith("post_"):
        return
    user_model = get_user_model()
    through = {user_model.user_permissions.through, user_model.groups.through}
    if sender in through:
        users = list(pk_set or []) if reverse else [instance.pk]
    elif sender is Group.permissions.through:  # a group's permissions: every member re-checks
        groups = list(pk_set or []) if reverse else [instance.pk]
        users = list(user_model.objects.filter(groups__in=groups).values_list("pk", flat=True))
    else:
        return
    if reverse and sender in through and action == "post_clear":
        return  # the removed users are unknown here; the periodic re-check closes them
    for user_id in users:
        if isinstance(user_id, int):
            notify_user(user_id)
