"""hold_chunk with two held segments, both approved: the live frame and a reload agree."""

from __future__ import annotations

from typing import Any

import pytest

from chat import selectors, services
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("decision", ["approved", "rejected"])
def test_the_frame_says_what_each_held_segment_shows_as_the_snapshot_does(alice: Any, decision: str) -> None:
    conversation = Conversation.objects.create(owner=alice)
    question = Message.objects.create(conversation=conversation, role="user", text="q")
    segments = [
        {"kind": "released", "text": "A. ", "start": 0},
        {"kind": "held", "segment": 0, "text": "X. ", "start": 3, "reasons": []},
        {"kind": "released", "text": "B. ", "start": 6},
        {"kind": "held", "segment": 1, "text": "Y. ", "start": 9, "reasons": []},
        {"kind": "released", "text": "C.", "start": 12},
    ]
    reply = Message.objects.create(
        conversation=conversation, role="assistant", status="held", text="A. X. B. Y. C.", segments=segments,
        reply_to=question,
    )  # fmt: skip
    frame = services.reply_resolve(message_id=reply.pk, decision=decision, text="Removed.")
    assert frame is not None

    snapshot = selectors.conversation_snapshot(user=alice, conversation_id=conversation.pk)
    assert snapshot is not None
    (stored,) = [m for m in snapshot["messages"] if m["id"] == reply.pk]
    held_texts = [s["text"] for s in stored["segments"] if s["kind"] == "held"]
    assert frame["segments"] == held_texts
    if decision == "approved":
        assert held_texts == ["X. ", "Y. "]
        assert "".join(s["text"] for s in stored["segments"]) == "A. X. B. Y. C."
    else:
        assert held_texts == ["Removed.", ""]
