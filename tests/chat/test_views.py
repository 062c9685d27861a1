"""The web UI's HTTP side: pages, the conversation snapshot, ratings (auth, ownership, CSRF)."""

from __future__ import annotations

import gc
import json
import threading
import time
import weakref
from typing import Any

import pytest
from django.test import Client

from chat import warmup
from chat.models import Conversation, Event, Message, Rating
from guardrails import wiring

pytestmark = pytest.mark.django_db


def conversation_with_turn(owner: Any, *, reply_status: str = "complete", segments: Any = None) -> tuple[Any, ...]:
    conversation = Conversation.objects.create(owner=owner, title="Opening hours")
    user_message = Message.objects.create(conversation=conversation, role="user", text="When are you open?")
    reply = Message.objects.create(
        conversation=conversation,
        role="assistant",
        status=reply_status,
        reply_to=user_message,
        text="We open at 9. Call 555-0100 for a refund!",
        segments=segments if segments is not None else [{"kind": "released", "text": "We open at 9.", "start": 0}],
    )
    started = {
        "type": "turn_started",
        "conversation_id": conversation.pk,
        "seq": 5,
        "user_message_id": user_message.pk,
        "message_id": reply.pk,
    }
    Event.objects.create(conversation=conversation, seq=5, type="turn_started", payload=started)
    Event.objects.create(conversation=conversation, seq=6, type="delta", payload={"seq": 6})
    Conversation.objects.filter(pk=conversation.pk).update(last_seq=6)
    conversation.refresh_from_db()
    return conversation, user_message, reply


@pytest.fixture
def alice_client(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_pages_need_a_login(client: Client) -> None:
    assert client.get("/").status_code == 302
    assert client.get("/api/conversations/").status_code == 401


def test_page_lists_conversations_and_hides_other_users(alice: Any, bob: Any, alice_client: Client) -> None:
    conversation, _, _ = conversation_with_turn(alice)
    other, _, _ = conversation_with_turn(bob)
    page = alice_client.get(f"/c/{conversation.pk}/")
    assert page.status_code == 200
    assert b"Opening hours" in page.content and b'aria-current="page"' in page.content
    assert alice_client.get(f"/c/{other.pk}/").status_code == 404
    assert alice_client.get(f"/api/conversations/{other.pk}/").status_code == 404
    listed = alice_client.get("/api/conversations/").json()["conversations"]
    assert [c["id"] for c in listed] == [conversation.pk]


def test_snapshot_shows_released_text_and_placeholders_never_held_text(alice: Any, alice_client: Client) -> None:
    segments = [
        {"kind": "released", "text": "We open at 9. ", "start": 0},
        {"kind": "held", "text": "Call 555-0100 for a refund!", "start": 14, "reasons": []},
    ]
    conversation, user_message, reply = conversation_with_turn(alice, reply_status="held", segments=segments)
    data = alice_client.get(f"/api/conversations/{conversation.pk}/").json()
    assert data["resume_after"] == 6
    assert "555-0100" not in json.dumps(data)
    user, assistant = data["messages"]
    assert user["segments"] == [{"kind": "released", "text": "When are you open?"}]
    assert assistant["status"] == "held" and assistant["reply_to"] == user_message.pk
    assert assistant["segments"][0] == {"kind": "released", "text": "We open at 9. "}
    assert assistant["segments"][1]["kind"] == "held" and assistant["segments"][1]["text"] == ""
    assert assistant["segments"][1]["placeholder"]

    segments[1]["resolution"] = {"decision": "edited", "text": "Our team will contact you."}
    Message.objects.filter(pk=reply.pk).update(segments=segments)
    held = alice_client.get(f"/api/conversations/{conversation.pk}/").json()["messages"][1]["segments"][1]
    assert held["text"] == "Our team will contact you." and held["resolved"] and held["decision"] == "edited"


def test_snapshot_of_a_streaming_reply_resumes_before_its_turn(alice: Any, alice_client: Client) -> None:
    conversation, _, _ = conversation_with_turn(alice, reply_status="streaming")
    data = alice_client.get(f"/api/conversations/{conversation.pk}/").json()
    assert data["resume_after"] == 4  # the client rebuilds the reply from turn_started (seq 5) on
    assert data["messages"][1]["segments"] == []


def test_rating_is_stored_changeable_and_csrf_protected(alice: Any, bob: Any) -> None:
    _, user_message, reply = conversation_with_turn(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = f"/api/messages/{reply.pk}/rating"
    assert client.post(url, {"value": 1}, content_type="application/json").status_code == 403  # no token

    client.get("/")  # the page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(url, {"value": 1}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["value"] == 1
    response = client.post(
        url, {"value": -1, "comment": " Too vague "}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.json() == {**response.json(), "value": -1, "comment": "Too vague"}
    assert Rating.objects.get(message=reply).value == -1

    for bad in ({"value": 2}, {"value": True}, {"value": 1, "comment": 5}, ["x"]):
        assert client.post(url, bad, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 400
    user_url = f"/api/messages/{user_message.pk}/rating"  # only replies are rated
    response = client.post(user_url, {"value": 1}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 404

    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.post(url, {"value": 1}, content_type="application/json").status_code == 404
    assert alice_client_rating(alice, reply.pk) == {"value": -1, "comment": "Too vague"}


def alice_client_rating(alice: Any, message_id: int) -> Any:
    client = Client()
    client.force_login(alice)
    message = Message.objects.get(pk=message_id)
    data = client.get(f"/api/conversations/{message.conversation_id}/").json()
    return next(m for m in data["messages"] if m["id"] == message_id)["rating"]


async def test_static_files_are_served_by_the_asgi_application() -> None:
    from asgiref.testing import ApplicationCommunicator

    from config.asgi import application

    scope = {"type": "http", "method": "GET", "path": "/static/chat.js", "query_string": b"", "headers": []}
    communicator: Any = ApplicationCommunicator(application, scope)  # type: ignore[no-untyped-call]  # asgiref's is unannotated
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    assert start["status"] == 200
    assert body.startswith(b"/* Guarded chat")


def test_readiness_reports_the_active_toxicity_model_and_the_fallback(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A warm-up started by an earlier test's import of config.asgi must not make this one racy.
    monkeypatch.setattr(warmup, "_state", {**warmup._state, "started": False})
    body = client.get("/readyz").json()
    assert body["status"] == "ok" and body["checks"]["database"] == "ok"
    model = body["checks"]["toxicity_model"]
    # No Detoxify weights can be had here: the stand-in is active and says so.
    assert model["fallback"] is True and model["name"].startswith("alt-profanity-check")


def test_readiness_waits_for_the_warm_up(client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    fresh = {"started": False, "done": False, "checks": "not run", "llm": "not probed", "seconds": None}
    monkeypatch.setattr(warmup, "_state", fresh)
    monkeypatch.setattr(warmup, "_PROBE_EVERY_S", 0.05)
    assert client.get("/readyz").json()["checks"]["warm_up"]["warm"] is True  # never started: not waited for
    release = threading.Event()
    real_get_checker = wiring.get_checker

    def slow_checker() -> Any:
        release.wait(10)
        return real_get_checker()

    monkeypatch.setattr(wiring, "get_checker", slow_checker)
    thread = warmup.start()
    assert thread is not None and warmup.start() is None  # once per process
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "warming"
    release.set()
    deadline = time.monotonic() + 20
    while not warmup.state()["warm"] and time.monotonic() < deadline:
        time.sleep(0.05)  # wait-ok: polling a background thread's progress, bounded
    response = client.get("/readyz")
    warm = response.json()["checks"]["warm_up"]
    assert response.status_code == 200 and warm["warm"] is True
    assert warm["checks"] == "ok" or warm["checks"].startswith("error")  # its DB access may be refused here
    assert warm["llm"].startswith("unreachable")  # reported, and probed again in the background
    assert warm["heap_frozen"] > 100_000  # Django and the models, out of the collector's sight
    warmup.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    gc.unfreeze()  # the rest of the suite runs on an ordinary heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settling_the_heap_collects_garbage_first_and_hides_what_lives_from_the_collector() -> None:
    kept = _Node()
    cycle_a, cycle_b = _Node(), _Node()
    cycle_a.other, cycle_b.other = cycle_b, cycle_a  # garbage only a collection can free
    gone = weakref.ref(cycle_a)
    del cycle_a, cycle_b
    try:
        frozen = warmup.settle_heap()
        assert frozen == gc.get_freeze_count() > 0
        assert gone() is None  # collected, not frozen for good
        # A full collection walks neither the kept object nor anything else alive before.
        assert not any(o is kept for o in gc.get_objects())
        later = _Node()
        assert any(o is later for o in gc.get_objects())  # what is made afterwards is watched
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())
