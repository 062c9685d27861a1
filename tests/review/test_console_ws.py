"""The console socket: who may open it, what it relays, and losing the permission."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission

from chat.services import api_key_create
from config.asgi import application
from review import services as review
from review.consumers import CLOSE_FORBIDDEN
from tests.review.conftest import make_reply

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 10.0
ORIGIN = (b"origin", b"http://localhost:8000")


async def open_console(client: Any, user: Any | None, *, key: str | None = None) -> tuple[bool, WebsocketCommunicator]:
    headers = [ORIGIN]
    if user is not None:
        await database_sync_to_async(client.force_login)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    if key is not None:
        headers = [(b"authorization", f"Bearer {key}".encode())]
    ws = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await ws.connect(timeout=TIMEOUT)
    return connected, ws


async def recv(ws: WebsocketCommunicator) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await ws.receive_from(timeout=TIMEOUT))
    return frame


async def test_only_reviewers_signed_in_with_a_session_may_connect(client: Any, alice: Any, reviewer: Any) -> None:
    ok, ws = await open_console(client, None)
    assert not ok
    ok, ws = await open_console(client, alice)
    assert not ok
    _, raw = await database_sync_to_async(api_key_create)(user=reviewer)
    ok, ws = await open_console(client, None, key=raw)
    assert not ok, "the console is for people signed in with a password"
    ok, ws = await open_console(client, reviewer)
    assert ok
    assert await recv(ws) == {"type": "console_ready", "user": "rita"}
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert await recv(ws) == {"type": "pong"}
    await ws.disconnect()


async def test_queue_changes_reach_every_open_console(client: Any, alice: Any, reviewer: Any, reviewer2: Any) -> None:
    from django.test import Client

    ok_a, a = await open_console(client, reviewer)
    ok_b, b = await open_console(Client(), reviewer2)
    assert ok_a and ok_b
    for ws in (a, b):
        await recv(ws)  # console_ready
    reply = await database_sync_to_async(make_reply)(alice)
    item = await database_sync_to_async(review.review_item_create)(message_id=reply.pk)
    for ws in (a, b):
        frame = await recv(ws)
        assert frame["type"] == "review_item" and frame["event"] == "created" and frame["item"]["id"] == item.pk
    await database_sync_to_async(review.review_item_claim)(item_id=item.pk, user=reviewer)
    for ws in (a, b):
        frame = await recv(ws)
        assert (frame["event"], frame["item"]["claimed_by"]) == ("claimed", "rita")
        assert frame["item"]["claim_expires_at"]
    await a.disconnect()
    await b.disconnect()


async def test_an_agent_who_loses_the_permission_is_disconnected(client: Any, reviewer: Any) -> None:
    ok, ws = await open_console(client, reviewer)
    assert ok
    await recv(ws)

    def revoke() -> None:
        reviewer.user_permissions.remove(Permission.objects.get(codename="review_replies"))

    await database_sync_to_async(revoke)()
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert (await recv(ws))["code"] == "forbidden"
    assert await ws.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
