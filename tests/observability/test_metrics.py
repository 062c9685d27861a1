"""/metrics as a real turn runs: the values move, not only the names exist (issue 14)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from chat.models import Message
from review.models import ReviewItem
from tests.conftest import wait_turn
from tests.tgi_server import Script

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded_library")]

PHONE = "+1 415 555 0134"


def scrape(client: Client | None = None, **headers: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def words(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text)


async def ascrape() -> dict[Any, float]:
    from asgiref.sync import sync_to_async

    return await sync_to_async(scrape)()


async def test_a_held_turn_moves_the_turn_moderation_token_and_queue_metrics(tgi, alice_key, connect, settings):
    settings.LLM_MODEL = "metrics-test-model"
    settings.LLM_COST_PER_1K_INPUT, settings.LLM_COST_PER_1K_OUTPUT = 1.0, 2.0
    before = await ascrape()
    reply = f"Thanks for asking. Call us at {PHONE} any time. We are happy to help."
    tgi.push(Script(tokens=words(reply), rate=200, usage=True))
    ok, client = await connect(key=alice_key)
    assert ok
    during = await ascrape()
    assert value(during, "chat_sockets_open", kind="chat") == value(before, "chat_sockets_open", kind="chat") + 1

    await client.send({"type": "user_message", "text": "How do I reach you?", "conversation_id": None})
    frames = await client.recv_until("done")
    assert frames[-1]["status"] == "held"
    message_id = frames[0]["message_id"]
    await wait_turn(message_id)
    after = await ascrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("chat_turns_total", status="held") == 1
    assert value(after, "chat_turns_running") == value(before, "chat_turns_running")
    assert delta("chat_first_shown_text_seconds_count") == 1  # "Thanks for asking. " was shown
    assert delta("chat_first_shown_text_seconds_sum") > 0
    chunks = len([f for f in frames if f["type"] == "delta"]) + 2  # and 2 held sentences
    assert delta("guardrails_chunks_checked_total") == chunks
    assert delta("guardrails_moderation_delay_seconds_count") == chunks
    assert delta("guardrails_chunks_held_total", check="patterns", label="invented-phone-number") == 1
    # Tokens as the server reported them (7 in, one per word out), and their estimated cost.
    out = len(words(reply))
    assert delta("llm_input_tokens_total", model="metrics-test-model") == 7
    assert delta("llm_output_tokens_total", model="metrics-test-model") == out
    assert delta("llm_estimated_cost_total", model="metrics-test-model") == pytest.approx(7 / 1000 + 2 * out / 1000)
    # The reply is queued for review: the queue collector reads it from the database.
    assert await ReviewItem.objects.filter(reply_id=message_id).aexists()
    assert value(after, "review_queue_depth", status="pending", source="moderation") >= 1
    assert value(after, "review_queue_oldest_pending_age_seconds") >= 0
    stored = await Message.objects.aget(pk=message_id)
    assert (stored.tokens_in, stored.tokens_out) == (7, out)

    await client.close()
    closed = await ascrape()
    assert value(closed, "chat_sockets_open", kind="chat") == value(before, "chat_sockets_open", kind="chat")


async def test_an_input_refusal_and_a_backend_error_are_counted(tgi, alice_key, connect, settings):
    settings.GUARDRAILS_MAX_INPUT_CHARS = 10
    before = await ascrape()
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "x" * 11, "conversation_id": None})
    assert (await client.recv_until("done"))[-1]["status"] == "refused"
    settings.GUARDRAILS_MAX_INPUT_CHARS = 4000
    tgi.push(Script(status=503, body=b'{"error":"overloaded"}'))
    await client.send({"type": "user_message", "text": "hello", "conversation_id": None})
    frames = await client.recv_until("done")
    code = next(f["code"] for f in frames if f["type"] == "error")
    after = await ascrape()
    assert value(after, "chat_input_refusals_total", check="length", label="too_long") == (
        value(before, "chat_input_refusals_total", check="length", label="too_long") + 1
    )
    assert (
        value(after, "chat_backend_errors_total", code=code)
        == value(before, "chat_backend_errors_total", code=code) + 1
    )
    await client.close()


def test_metrics_need_the_bearer_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(HTTP_AUTHORIZATION="Bearer s3cret")  # parses, has samples
