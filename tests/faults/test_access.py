"""Sockets whose key or session was revoked (or whose user lost access) are closed at once."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import Client as HttpClient
from django.utils import timezone

from chat import access, services
from chat.auth import ChatAuthMiddleware
from chat.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost:8000")


async def expect_closed(client: Any) -> None:
    """The socket says why (unauthorized) and closes with access.CLOSE_CODE."""
    frame = await client.recv(timeout=5)
    assert frame["type"] == "error" and frame["code"] == "unauthorized"
    closed = await client.ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": access.CLOSE_CODE}


async def test_a_revoked_api_key_closes_its_open_socket(alice_key: str, bob_key: str, connect: Any) -> None:
    _, alice = await connect(key=alice_key)
    _, bob = await connect(key=bob_key)
    assert await alice.request({"type": "ping"}) == {"type": "pong"}
    await database_sync_to_async(services.api_key_revoke)(prefix=alice_key.split("_")[1])
    await expect_closed(alice)
    assert await bob.request({"type": "ping"}) == {"type": "pong"}  # other users are untouched


async def test_a_deactivated_user_is_closed(alice: Any, alice_key: str, connect: Any) -> None:
    _, client = await connect(key=alice_key)
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    await expect_closed(client)


async def test_signing_out_in_another_tab_closes_the_session_socket(alice: Any, connect: Any) -> None:
    http = HttpClient()
    await database_sync_to_async(http.force_login)(alice)
    cookie = (b"cookie", f"sessionid={http.cookies['sessionid'].value}".encode())
    _, tab = await connect(headers=[cookie, ORIGIN])
    assert await tab.request({"type": "ping"}) == {"type": "pong"}
    await database_sync_to_async(http.post)("/accounts/logout/")
    await expect_closed(tab)


async def test_the_periodic_recheck_closes_a_socket_that_missed_the_message(
    settings: Any, alice_key: str, connect: Any
) -> None:
    settings.CHAT_ACCESS_RECHECK_SECONDS = 0.2
    _, client = await connect(key=alice_key)
    # Revoked behind the services' back (no notification): only the safety net can see it.
    await ApiKey.objects.filter(prefix=alice_key.split("_")[1]).aupdate(revoked_at=timezone.now())
    await expect_closed(client)


class ConsoleLike(access.AccessGuard, AsyncWebsocketConsumer):
    """How a console consumer uses the guard: a permission that is re-checked too."""

    access_permission = "review.review_replies"

    async def connect(self) -> None:
        await self.accept()
        await self.access_watch()

    async def disconnect(self, code: int) -> None:
        await self.access_unwatch()


async def test_losing_the_review_permission_closes_a_console_socket(make_user: Any) -> None:
    rita = await database_sync_to_async(make_user)("rita")
    key = (await database_sync_to_async(services.api_key_create)(user=rita))[1]
    permission = await Permission.objects.aget(content_type__app_label="review", codename="review_replies")
    await database_sync_to_async(rita.user_permissions.add)(permission)
    app = ChatAuthMiddleware(ConsoleLike.as_asgi())
    ws = WebsocketCommunicator(app, "/ws/review/", headers=[(b"authorization", f"Bearer {key}".encode())])
    assert (await ws.connect(timeout=5))[0]
    await database_sync_to_async(rita.user_permissions.remove)(permission)
    frame = await ws.receive_json_from(timeout=5)
    assert frame["code"] == "unauthorized"
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": access.CLOSE_CODE}
    await ws.disconnect()
