"""Moderation through the real consumer: nothing unchecked reaches a client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.models import Message
from guardrails.models import ModerationEvent
from review.models import ReviewItem
from tests.conftest import wait_turn
from tests.tgi_server import Script

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded_library")]

PHONE = "+1 415 555 0134"


def shown(frames: list[dict[str, Any]]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def words(text: str) -> list[str]:
    """Split like a tokenizer would: words with their leading space."""
    return re.findall(r"\s*\S+", text)


async def test_a_reply_with_an_invented_phone_number_is_held_from_there_on(tgi, alice_key, connect):
    reply = f"Thanks for asking. Call us at {PHONE} any time. We are happy to help."
    tgi.push(Script(tokens=words(reply), rate=200))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "How do I reach you?", "conversation_id": None})
    frames = await client.recv_until("done")

    assert shown(frames) == "Thanks for asking. "
    held = [f for f in frames if f["type"] == "held"]
    assert len(held) == 1 and held[0]["segment"] == 0 and held[0]["placeholder"]
    (reason,) = held[0]["reasons"]
    assert reason["check"] == "patterns" and reason["label"] == "invented-phone-number"
    start, end = reason["span"]
    assert reply[start:end].strip() == PHONE  # the span points at the text in the reply
    assert frames[-1]["status"] == "held"
    assert PHONE not in str(frames)  # not in any frame: deltas, reasons, anything

    message_id = frames[0]["message_id"]
    await wait_turn(message_id)
    message = await Message.objects.aget(pk=message_id)
    assert message.text == reply and message.status == "held"  # stored whole for the reviewer
    assert PHONE not in message.shown_text
    event = await ModerationEvent.objects.select_related("pattern").aget(message_id=message_id)
    # The evidence names the pattern's version at the time it held (seeded rows start at 1 or 2).
    assert (event.check_name, event.action) == ("patterns", "hold")
    assert event.pattern is not None and event.pattern_version == event.pattern.version


async def test_toxic_input_is_refused_and_the_llm_is_never_called(tgi, alice_key, connect):
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "you are a fucking idiot", "conversation_id": None})
    frames = await client.recv_until("done")
    done = frames[-1]
    assert done["status"] == "refused" and "abusive or offensive" in done["reason"]
    assert [f["type"] for f in frames] == ["turn_started", "done"]
    assert tgi.generation_requests == []
    await wait_turn(done["message_id"])
    assert await ModerationEvent.objects.filter(message_id=done["message_id"], action="refuse").aexists()


async def test_overlong_input_is_refused_with_the_limit(settings, tgi, alice_key, connect):
    settings.GUARDRAILS_MAX_INPUT_CHARS = 50
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "a" * 51, "conversation_id": None})
    done = (await client.recv_until("done"))[-1]
    assert done["status"] == "refused" and "the limit is 50" in done["reason"]
    assert tgi.generation_requests == []


async def test_a_flagged_reply_is_shown_and_queued_for_review(tgi, alice_key, connect):
    reply = "You will definitely win the case. Keep your receipts."
    tgi.push(Script(tokens=words(reply)))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "Will I win?", "conversation_id": None})
    frames = await client.recv_until("done")
    assert shown(frames) == reply and frames[-1]["status"] == "complete"
    await wait_turn(frames[0]["message_id"])
    assert await ModerationEvent.objects.filter(message_id=frames[0]["message_id"], action="flag").aexists()
    assert await ReviewItem.objects.filter(reply_id=frames[0]["message_id"]).aexists()


async def test_hold_chunk_withholds_only_the_failing_sentence(settings, tgi, alice_key, connect):
    settings.GUARDRAILS_ON_FAIL = "hold_chunk"
    reply = f"Hello there. Call {PHONE} now. Anything else I can do?"
    tgi.push(Script(tokens=words(reply)))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "hi", "conversation_id": None})
    frames = await client.recv_until("done")
    assert shown(frames) == "Hello there. Anything else I can do?"
    assert [f["type"] for f in frames if f["type"] in ("delta", "held")] == ["delta", "held", "delta"]


async def test_stop_policy_cancels_generation(settings, tgi, alice_key, connect):
    settings.GUARDRAILS_ON_FAIL = "stop"
    tgi.push(Script(tokens=words(f"Sure. Call {PHONE} today.") + [" More"] * 300, rate=100))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "hi", "conversation_id": None})
    frames = await client.recv_until("done")
    assert frames[-1]["status"] == "held" and frames[-1]["finish_reason"] == "moderation"
    await tgi.wait_for(lambda: tgi.disconnects, timeout=5)  # upstream closed: TGI frees the slot


# Planted content: (text, check that must name it).
PLANTS = st.sampled_from(
    [
        ("fucking idiot", "toxicity"),
        ("https://claim-refunds.net/now", "patterns"),
        ("(415) 555-0187", "patterns"),
        ("billing-team@gmail.com", "patterns"),
        ("I have issued a full refund to your card", "patterns"),
    ]
)
BENIGN = st.sampled_from(
    [
        "Thanks for reaching out.",
        "Your order 4471 ships on 12 March.",
        "The annual plan costs $96.",
        "You can read more at https://example.com/help.",
        "Let me know if anything else comes up.",
    ]
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    before=st.lists(BENIGN, max_size=2),
    plant=PLANTS,
    after=st.lists(BENIGN, max_size=2),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=40),
)
async def test_property_no_planted_text_is_ever_shown(tgi, alice_key, connect, before, plant, after, cuts):
    text, check = plant
    reply = " ".join([*before, f"Note: {text} okay.", *after])
    points = sorted({c % len(reply) for c in cuts} - {0})
    tokens = [reply[a:b] for a, b in zip([0, *points], [*points, len(reply)], strict=True)]
    tgi.push(Script(tokens=tokens))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "help", "conversation_id": None})
    frames = await client.recv_until("done")
    visible = shown(frames)
    # What was shown is the reply up to some point before the planted text is complete. Chunks
    # also close on time (GUARDRAILS_FIRST_CHUNK_*, GUARDRAILS_CHUNK_MAX_MS) at word boundaries,
    # so the first words of a multi-word plant may show; the plant is never shown whole, and a
    # one-word plant (a link, an address) not at all.
    start = reply.index(text)
    assert reply.startswith(visible) and len(visible) < start + len(text)
    if " " not in text:
        assert len(visible) <= start
    held = [f for f in frames if f["type"] == "held"]
    assert held and check in {r["check"] for r in held[0]["reasons"]}
    # done is published before the reply is stored and its review queued: let the turn finish
    # before the next example (and the test's database flush) begins.
    await wait_turn(frames[0]["message_id"])
    await client.close()
