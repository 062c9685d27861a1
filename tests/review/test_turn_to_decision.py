"""A real turn end to end: the scripted TGI server writes an invented phone number, the patterns
check holds it, queue_review makes the item (eagerly, in this process), a reviewer edits it
through the API, and the user's socket shows the reviewer's text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat import services
from review.models import ReviewItem
from tests.conftest import wait_turn
from tests.review.conftest import wait_for

# Celery runs eagerly here (tests/conftest.py's autouse eager_celery), as in the embedded default.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded_library")]


@pytest.fixture
def reviewer_key(reviewer: Any) -> str:
    return services.api_key_create(user=reviewer)[1]


async def test_held_turn_is_queued_decided_and_shown(tgi: Any, alice_key: str, reviewer_key: str, connect: Any) -> None:
    _, client = await connect(key=alice_key)
    await client.send(
        {
            "type": "user_message",
            "text": "[[echo]] Sure. Details are at https://refunds-desk.net/claim today.",
            "conversation_id": None,
        }
    )
    frames = await client.recv_until("done")
    started, done = frames[0], frames[-1]
    assert done["status"] == "held", frames
    assert any(f["type"] == "held" for f in frames)
    await wait_turn(started["message_id"])

    item = await database_sync_to_async(
        lambda: wait_for(lambda: ReviewItem.objects.filter(reply_id=started["message_id"]).first(), timeout=10)
    )()
    assert item.severity == "hold" and item.reasons

    def decide() -> Any:
        return Client().post(
            f"/api/reviews/{item.pk}/decision",
            json.dumps({"decision": "edit", "text": "Call us at +1 800 555 0100."}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {reviewer_key}",
        )

    response = await database_sync_to_async(decide)()
    assert response.status_code == 200, response.content
    (resolved,) = await client.recv_until("review_resolved")
    assert resolved["message_id"] == started["message_id"] and resolved["decision"] == "edited"
    assert resolved["text"] == "Call us at +1 800 555 0100." and resolved["seq"] == done["seq"] + 1
