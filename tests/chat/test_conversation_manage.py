"""Rename, delete (soft), search, and the unseen-decision badge: ownership and CSRF enforced."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from chat import services
from chat.errors import NotFound
from chat.models import Conversation, Message
from tests.chat.test_views import conversation_with_turn

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def post(client: Client, url: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def listed(client: Client, query: str = "") -> list[int]:
    response = client.get("/api/conversations/", {"q": query} if query else {})
    assert response.status_code == 200
    return [c["id"] for c in response.json()["conversations"]]


def test_rename_sets_a_one_line_title(alice: Any, alice_client: Client) -> None:
    conversation, _, _ = conversation_with_turn(alice)
    response = post(alice_client, f"/api/conversations/{conversation.pk}/rename", {"title": "  Store\n hours "})
    assert response.status_code == 200 and response.json()["title"] == "Store hours"
    conversation.refresh_from_db()
    assert conversation.title == "Store hours"
    assert post(alice_client, f"/api/conversations/{conversation.pk}/rename", {"title": "  "}).status_code == 400
    assert post(alice_client, f"/api/conversations/{conversation.pk}/rename", {"title": "x" * 201}).status_code == 400
    assert post(alice_client, f"/api/conversations/{conversation.pk}/rename", {}).status_code == 400


def test_other_users_conversations_are_not_found(alice: Any, bob: Any, alice_client: Client) -> None:
    other, _, _ = conversation_with_turn(bob)
    for action, body in (("rename", {"title": "Mine now"}), ("delete", None), ("seen", None)):
        assert post(alice_client, f"/api/conversations/{other.pk}/{action}", body).status_code == 404
    other.refresh_from_db()
    assert other.title == "Opening hours" and other.deleted_at is None


def test_writes_need_csrf_and_post(alice: Any) -> None:
    conversation, _, _ = conversation_with_turn(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert post(client, f"/api/conversations/{conversation.pk}/delete").status_code == 403
    assert client.get(f"/api/conversations/{conversation.pk}/delete").status_code == 405
    assert Client().post(f"/api/conversations/{conversation.pk}/delete").status_code == 401
    conversation.refresh_from_db()
    assert conversation.deleted_at is None


def test_delete_hides_the_conversation_from_its_owner_only(alice: Any, alice_client: Client) -> None:
    conversation, _, reply = conversation_with_turn(alice, reply_status="held")
    assert post(alice_client, f"/api/conversations/{conversation.pk}/delete").status_code == 200
    assert conversation.pk not in listed(alice_client)
    assert alice_client.get(f"/c/{conversation.pk}/").status_code == 404
    assert alice_client.get(f"/api/conversations/{conversation.pk}/").status_code == 404
    assert post(alice_client, f"/api/messages/{reply.pk}/rating", {"value": 1}).status_code == 404
    # Reviewers and the audit trail keep it: nothing is erased.
    assert Message.objects.filter(pk=reply.pk, status="held").exists()
    # And it takes no new turns.
    with pytest.raises(NotFound):
        services.turn_start(user=alice, text="hi", conversation_id=conversation.pk, client_msg_id=None)


def test_search_finds_titles_and_shown_text_but_never_held_text(alice: Any, bob: Any, alice_client: Client) -> None:
    by_title, _, _ = conversation_with_turn(alice)
    Conversation.objects.filter(pk=by_title.pk).update(title="Refund policy")
    by_question, question, _ = conversation_with_turn(alice)
    Message.objects.filter(pk=question.pk).update(text="Where is the Lisbon office?")
    by_reply, _, reply = conversation_with_turn(alice)
    Message.objects.filter(pk=reply.pk).update(text="Our Lisbon office opens at 9.")
    _, _, held_reply = conversation_with_turn(alice, reply_status="held")
    Message.objects.filter(pk=held_reply.pk).update(text="The secret held sentence about Lisbon.")
    conversation_with_turn(bob)  # bob's match stays bob's

    assert set(listed(alice_client, "lisbon")) == {by_question.pk, by_reply.pk}
    assert listed(alice_client, "REFUND POLICY") == [by_title.pk]
    assert listed(alice_client, "secret held") == []
    assert len(listed(alice_client)) == 4


def test_a_decision_marks_the_conversation_until_its_owner_opens_it(alice: Any, alice_client: Client) -> None:
    segments = [
        {"kind": "released", "text": "We open at 9. ", "start": 0},
        {"kind": "held", "text": "Call 555-0100 for a refund!", "start": 14, "segment": 0, "reasons": []},
    ]
    conversation, _, reply = conversation_with_turn(alice, reply_status="held", segments=segments)
    services.reply_resolve(message_id=reply.pk, decision="approved", text="")
    (item,) = alice_client.get("/api/conversations/").json()["conversations"]
    assert item["decision_unseen"] is True
    page = alice_client.get("/")
    assert b"conversation-link__badge" in page.content
    assert alice_client.get(f"/c/{conversation.pk}/").status_code == 200  # opening it shows the decision
    assert alice_client.get("/api/conversations/").json()["conversations"][0]["decision_unseen"] is False

    services.reply_resolve(message_id=reply.pk, decision="approved", text="")
    assert post(alice_client, f"/api/conversations/{conversation.pk}/seen").status_code == 200
    assert alice_client.get("/api/conversations/").json()["conversations"][0]["decision_unseen"] is False


def test_the_page_gets_the_input_limit_and_review_time(alice: Any, alice_client: Client, settings: Any) -> None:
    settings.GUARDRAILS_MAX_INPUT_CHARS = 1234
    settings.REVIEW_SLA_MINUTES = 42
    page = alice_client.get("/")
    assert b'"max_input_chars": 1234' in page.content and b'"review_sla_minutes": 42' in page.content


def test_error_pages_are_styled_with_a_way_back(alice_client: Client, settings: Any) -> None:
    settings.DEBUG = False
    response = alice_client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content and b'href="/"' in response.content
    assert b"chat.css" in response.content
