"""User reports, the daily token budget, the usage page, guardrails_report and JSON logs (issue 14)."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from chat.models import Conversation, Message
from observability import logs
from review import services as review
from review.models import ReviewItem
from tests.conftest import wait_turn
from tests.review.conftest import grant_review, make_reply
from tests.tgi_server import Script


def shown_reply(owner: Any, *, tokens: tuple[int, int] = (0, 0), title: str = "Opening hours") -> Message:
    conversation = Conversation.objects.create(owner=owner, title=title)
    question = Message.objects.create(conversation=conversation, role="user", text="When are you open?")
    return Message.objects.create(
        conversation=conversation,
        role="assistant",
        text="We are open every day.",
        segments=[{"kind": "released", "text": "We are open every day.", "start": 0}],
        status="complete",
        reply_to=question,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
    )


def rate(client: Client, message_id: int, **body: Any) -> Any:
    return client.post(f"/api/messages/{message_id}/rating", json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_a_user_report_makes_one_review_item_however_often_it_is_sent(alice, django_capture_on_commit_callbacks):
    reply = shown_reply(alice)
    client = Client()
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        first = rate(client, reply.pk, value=-1, reason="made_up", comment="No such office.", report=True)
        again = rate(client, reply.pk, value=-1, reason="made_up", report=True)
    assert first.status_code == 200 and first.json()["reason"] == "made_up"
    assert again.status_code == 200
    (item,) = ReviewItem.objects.filter(reply=reply)
    assert item.source == ReviewItem.Source.USER_REPORT and item.status == ReviewItem.Status.PENDING
    assert (item.report_reason, item.report_comment) == ("made_up", "No such office.")
    assert item.reasons[0]["check"] == "user_report" and item.severity == "flag"
    # A thumbs down without `report`, or a report on a thumbs up, queues nothing new.
    other = shown_reply(alice)
    assert rate(client, other.pk, value=-1, reason="harmful").status_code == 200
    assert rate(client, other.pk, value=1, report=True).status_code == 400
    assert rate(client, other.pk, value=-1, reason="rude").status_code == 400
    assert not ReviewItem.objects.filter(reply=other).exists()


@pytest.mark.django_db
def test_a_report_on_a_reply_already_queued_joins_its_item(alice):
    reply = make_reply(alice, severity="flag")
    item = review.review_item_create(message_id=reply.pk)
    review.review_item_report(message_id=reply.pk, reason="harmful")
    (same,) = ReviewItem.objects.filter(reply=reply)
    assert same.pk == item.pk and same.source == "moderation" and same.report_reason == "harmful"


@pytest.mark.django_db(transaction=True)
async def test_the_daily_token_budget_refuses_a_new_turn_with_a_reason(tgi, alice, alice_key, connect, settings):
    settings.CHAT_DAILY_TOKEN_BUDGET = 100
    from asgiref.sync import sync_to_async

    await sync_to_async(shown_reply)(alice, tokens=(60, 40))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "One more question", "conversation_id": None})
    frames = await client.recv_until("done")
    done = frames[-1]
    assert done["status"] == "refused" and "allowance of 100 tokens" in done["reason"]
    assert not tgi.generation_requests  # the LLM was not called
    await wait_turn(done["message_id"])
    await client.close()


@pytest.mark.django_db
def test_the_usage_page_ranks_users_and_shows_calibration(alice, bob, make_user, settings):
    settings.LLM_COST_PER_1K_OUTPUT = 10.0
    shown_reply(alice, tokens=(100, 900), title="Big one")
    shown_reply(bob, tokens=(10, 20))
    held = make_reply(bob, check="toxicity", label="insult")
    item = review.review_item_create(message_id=held.pk)
    rita = grant_review(make_user("rita"))
    review.review_item_decide(item_id=item.pk, user=rita, decision="approved")
    client = Client()
    client.force_login(alice)
    assert client.get("/console/usage/").status_code == 403  # reviewers only
    client.force_login(rita)
    page = client.get("/console/usage/?days=7&precision=0.8").content.decode()
    assert page.index("alice") < page.index("bob")  # most tokens first
    assert "9.0000" in page  # 900 output tokens at 10 per 1K
    assert "Big one" in page and "insult" in page

    out = io.StringIO()
    call_command("guardrails_report", "--days", "1", stdout=out)
    text = out.getvalue()
    assert "toxicity" in text and "insult" in text and "Threshold suggestions" in text


def test_json_logs_carry_the_ids_one_object_per_line():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with logs.bound(request_id="r1", conversation_id=7, message_id=42):
            logger.info("turn %s", "done", extra={"event": "done"})
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "turn done" and first["event"] == "done"
    assert (first["request_id"], first["conversation_id"], first["message_id"]) == ("r1", 7, 42)
    assert "message_id" not in second


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("seeded_library")
async def test_a_turn_logs_its_timeline_with_its_ids(tgi, alice_key, connect, caplog):
    tgi.push(Script(tokens=["Hello", ",", " world", "!"], eos=True, rate=200))
    caplog.set_level(logging.INFO, logger="chat.turns")
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "Hi", "conversation_id": None})
    frames = await client.recv_until("done")
    message_id = frames[0]["message_id"]
    await wait_turn(message_id)
    await client.close()
    timeline = [r for r in caplog.records if getattr(r, "event", None) and f"message={message_id}" in r.getMessage()]
    assert [r.event for r in timeline] == ["started", "first_token", "first_shown_text", "done"]
    formatted = json.loads(logs.JsonFormatter().format(timeline[-1]))
    assert formatted["message_id"] == message_id and formatted["conversation_id"] == frames[0]["conversation_id"]
    assert formatted["request_id"]  # the socket frame that started the turn


def test_http_responses_carry_the_request_id():
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert len(Client().get("/healthz", HTTP_X_REQUEST_ID="bad id!")["X-Request-ID"]) == 16
