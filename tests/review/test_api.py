"""The review JSON API: permissions, shapes, claims and decisions, and the user seeing it live."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat import services
from chat.models import Message
from review import services as review
from review.models import ReviewItem
from tests.review.conftest import HELD_TEXT, RELEASED_TEXT, make_reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(held_reply: Message) -> ReviewItem:
    return review.review_item_create(message_id=held_reply.pk)


@pytest.fixture
def reviewer_key(reviewer: Any) -> str:
    return services.api_key_create(user=reviewer)[1]


class Bearer(TypedDict):
    """The test client's keyword for the ``Authorization`` header."""

    HTTP_AUTHORIZATION: str


def bearer(key: str) -> Bearer:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def post(client: Client, url: str, body: dict[str, Any] | None = None, **extra: Any) -> Any:
    return client.post(url, json.dumps(body or {}), content_type="application/json", **extra)


# --- who may use it -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/reviews/"), ("get", "/api/reviews/{id}/"), ("post", "/api/reviews/{id}/claim")],
)
def test_permissions(item: ReviewItem, alice: Any, alice_key: str, reviewer: Any, method: str, path: str) -> None:
    url = path.format(id=item.pk)
    call = getattr(Client(), method)
    anonymous = call(url)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert call(url, **bearer("gsc_nope_nope")).status_code == 401

    plain = Client()
    plain.force_login(alice)
    refused = getattr(plain, method)(url)
    assert refused.status_code == 403 and "review permission" in refused.json()["detail"]
    assert call(url, **bearer(alice_key)).status_code == 403

    allowed = Client()
    allowed.force_login(reviewer)
    assert getattr(allowed, method)(url).status_code == 200


def test_unknown_ids_are_404(reviewer_key: str) -> None:
    for response in [
        Client().get("/api/reviews/999999/", **bearer(reviewer_key)),
        post(Client(), "/api/reviews/999999/claim", **bearer(reviewer_key)),
        post(Client(), "/api/reviews/999999/decision", {"decision": "approve"}, **bearer(reviewer_key)),
    ]:
        assert response.status_code == 404 and response.json() == {
            "code": "not_found",
            "detail": "No such review item.",
        }


def test_session_posts_need_csrf_bearer_posts_do_not(item: ReviewItem, reviewer: Any, reviewer_key: str) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(reviewer)
    refused = post(browser, f"/api/reviews/{item.pk}/claim")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    token = "k" * 32  # any well-formed secret: the check compares the header with the cookie
    browser.cookies["csrftoken"] = token
    assert post(browser, f"/api/reviews/{item.pk}/claim", HTTP_X_CSRFTOKEN=token).status_code == 200
    program = Client(enforce_csrf_checks=True)  # the same reviewer, as a program with her key
    assert post(program, f"/api/reviews/{item.pk}/release", **bearer(reviewer_key)).status_code == 200
    assert post(program, f"/api/reviews/{item.pk}/claim", **bearer(reviewer_key)).status_code == 200


def test_wrong_method_and_bad_input_are_json(item: ReviewItem, reviewer_key: str) -> None:
    wrong = Client().get(f"/api/reviews/{item.pk}/claim", **bearer(reviewer_key))
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    bodies: list[dict[str, Any]] = [{"decision": "perhaps"}, {"decision": "edit"}, {"decision": "edit", "text": 5}]
    for body in bodies:
        bad = post(Client(), f"/api/reviews/{item.pk}/decision", body, **bearer(reviewer_key))
        assert bad.status_code == 400 and bad.json()["detail"]
    raw = Client().post(
        f"/api/reviews/{item.pk}/decision", "not json", content_type="application/json", **bearer(reviewer_key)
    )
    assert raw.status_code == 400 and raw.json() == {"code": "bad_request", "detail": "Send a JSON object."}
    assert Client().get("/api/reviews/?status=lost", **bearer(reviewer_key)).status_code == 400
    assert Client().get("/api/reviews/?page=0", **bearer(reviewer_key)).status_code == 400
    assert Client().get("/api/reviews/?page=9", **bearer(reviewer_key)).status_code == 404


# --- shapes ---------------------------------------------------------------------------------


def test_item_shape(item: ReviewItem, held_reply: Message, reviewer_key: str) -> None:
    body = Client().get(f"/api/reviews/{item.pk}/", **bearer(reviewer_key)).json()
    assert body["id"] == item.pk and body["status"] == "pending" and body["overdue"] is False
    assert body["held_text"] == HELD_TEXT and body["sla_deadline"] == item.sla_deadline.isoformat()
    assert body["reasons"][0]["label"] == "phone_number" and body["reasons"][0]["span"] == [
        len(RELEASED_TEXT),
        len(RELEASED_TEXT) + len(HELD_TEXT),
    ]
    message = body["message"]
    assert message["id"] == held_reply.pk and message["text"] == RELEASED_TEXT + HELD_TEXT
    assert message["user"] == "alice" and message["status"] == "held"
    assert [c["role"] for c in body["context"]] == ["user"]
    assert body["context"][0]["text"].startswith("[[echo]]")
    assert body["decision"] is None and body["claimed_by"] is None


def test_list_filters_and_pages(alice: Any, reviewer: Any, reviewer_key: str, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    items = [review.review_item_create(message_id=make_reply(alice).pk) for _ in range(5)]
    review.review_item_claim(item_id=items[0].pk, user=reviewer)
    review.review_item_decide(item_id=items[1].pk, user=reviewer, decision="approved")
    review.review_items_escalate(now=timezone.now() + timedelta(minutes=settings.REVIEW_SLA_MINUTES + 1))

    def ids(query: str) -> list[int]:
        response = Client().get(f"/api/reviews/?{query}", **bearer(reviewer_key))
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert set(ids("status=pending")) == {i.pk for i in items[2:]}
    assert ids("status=claimed") == [items[0].pk]
    assert ids("status=decided") == [items[1].pk]
    assert set(ids("status=overdue")) == {i.pk for i in items if i.pk != items[1].pk}
    page = Client().get("/api/reviews/?status=pending&page_size=2&page=2", **bearer(reviewer_key)).json()
    assert page["count"] == 3 and page["pages"] == 2 and page["page"] == 2 and len(page["results"]) == 1


# --- claim, release, decide through the API -----------------------------------------------------


def test_claim_release_decide_flow(item: ReviewItem, reviewer: Any, reviewer2: Any, settings: Any) -> None:
    rita, rob = Client(), Client()
    rita.force_login(reviewer)
    rob.force_login(reviewer2)
    claimed = post(rita, f"/api/reviews/{item.pk}/claim")
    assert claimed.status_code == 200 and claimed.json()["status"] == "claimed"
    assert claimed.json()["claimed_by"] == "rita"
    taken = post(rob, f"/api/reviews/{item.pk}/claim")
    assert taken.status_code == 409 and "rita" in taken.json()["detail"]
    blocked = post(rob, f"/api/reviews/{item.pk}/decision", {"decision": "approve"})
    assert blocked.status_code == 409
    assert post(rita, f"/api/reviews/{item.pk}/release").json()["status"] == "pending"
    decided = post(rob, f"/api/reviews/{item.pk}/decision", {"decision": "reject", "note": "invented number"})
    assert decided.status_code == 200
    body = decided.json()
    # The old verb in, the outcome word out (the one word the user's client sees too).
    assert body["status"] == "decided" and body["decision"] == "rejected" and body["decided_by"] == "rob"
    assert body["decision_text"] == settings.REVIEW_REJECT_TEXT and body["note"] == "invented number"
    again = post(rita, f"/api/reviews/{item.pk}/decision", {"decision": "approved"})
    assert again.status_code == 409 and again.json()["code"] == "already_decided"


@pytest.mark.parametrize(
    ("said", "outcome"),
    [
        ("approved", "approved"),
        ("approve", "approved"),
        ("rejected", "rejected"),
        ("reject", "rejected"),
        ("edited", "edited"),
        ("edit", "edited"),
    ],
)
def test_decision_accepts_outcome_words_and_old_verbs(
    item: ReviewItem, reviewer_key: str, said: str, outcome: str
) -> None:
    response = post(
        Client(), f"/api/reviews/{item.pk}/decision", {"decision": said, "text": "Fine."}, **bearer(reviewer_key)
    )
    assert response.status_code == 200 and response.json()["decision"] == outcome
    assert ReviewItem.objects.get(pk=item.pk).decision == outcome


# --- the waiting user sees it live (one process; two processes: test_two_servers.py) ---------------


@pytest.mark.django_db(transaction=True)
async def test_decision_reaches_the_users_socket_and_replays_once(connect: Any, settings: Any) -> None:
    alice_key, reviewer_key, reply_id, conversation_id, last_seq, item_id = await database_sync_to_async(_setup_live)()
    _, client = await connect(key=alice_key)
    await client.send({"type": "subscribe", "conversation_id": conversation_id, "after_seq": last_seq})
    assert (await client.request({"type": "ping"}))["type"] == "pong"  # the subscription is in place

    response = await database_sync_to_async(post)(
        Client(),
        f"/api/reviews/{item_id}/decision",
        {"decision": "edit", "text": "Call +1 800 555 0100."},
        **bearer(reviewer_key),
    )
    assert response.status_code == 200
    (frame,) = await client.recv_until("review_resolved")
    assert frame == {
        "type": "review_resolved",
        "conversation_id": conversation_id,
        "seq": last_seq + 1,
        "message_id": reply_id,
        "decision": "edited",
        "text": "Call +1 800 555 0100.",
        "replaces": "held",
        "segments": ["Call +1 800 555 0100."],  # what each held segment shows now
    }
    _, again = await connect(key=alice_key)
    await again.send({"type": "subscribe", "conversation_id": conversation_id, "after_seq": 0})
    replay = await again.recv_until("review_resolved")
    assert [f["type"] for f in replay].count("review_resolved") == 1
    assert (await again.request({"type": "ping"}))["type"] == "pong"  # and nothing after it


def _setup_live() -> tuple[str, str, int, int, int, int]:
    from django.contrib.auth import get_user_model

    from tests.review.conftest import grant_review

    User = get_user_model()
    alice = User.objects.create_user("alice", password="pw")
    reviewer = grant_review(User.objects.create_user("rita", password="pw"))
    reply = make_reply(alice)
    item = review.review_item_create(message_id=reply.pk)
    return (
        services.api_key_create(user=alice)[1],
        services.api_key_create(user=reviewer)[1],
        reply.pk,
        reply.conversation_id,
        reply.conversation.last_seq,
        item.pk,
    )
