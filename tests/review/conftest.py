"""Review-loop fixtures: a held (or flagged) reply as the turn leaves it, reviewers, and
the helpers the subprocess tests share (free ports, Redis and Postgres requirements)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from chat.models import Conversation, Event, Message
from guardrails.checks import Verdict
from guardrails.services import moderation_events_record

HELD_TEXT = "Call us at +1 415 555 0100."
RELEASED_TEXT = "Sure, I can help. "
WAIT = 30.0


def make_reply(
    owner: Any,
    *,
    held_text: str = HELD_TEXT,
    released: str = RELEASED_TEXT,
    check: str = "patterns",
    label: str = "phone_number",
    severity: str = "hold",
    conversation: Conversation | None = None,
) -> Message:
    """A finished reply with its events (turn_started, delta, held, done) and moderation events.

    ``severity="hold"``: ``held_text`` is withheld behind the placeholder. ``"flag"``: it was
    shown (released) and the reply is only queued for review.
    """
    conversation = conversation or Conversation.objects.create(owner=owner, title="Opening hours")
    question = Message.objects.create(conversation=conversation, role="user", text="[[echo]] how do I call you?")
    start = len(released)
    span = [start, start + len(held_text)]
    reason = {"check": check, "label": label, "score": 1.0, "span": span}
    if severity == "hold":
        segments = [
            {"kind": "released", "text": released, "start": 0},
            {"kind": "held", "text": held_text, "start": start, "reasons": [reason]},
        ]
    else:
        segments = [{"kind": "released", "text": released + held_text, "start": 0}]
    reply = Message.objects.create(
        conversation=conversation,
        role="assistant",
        text=released + held_text,
        segments=segments,
        status="held" if severity == "hold" else "complete",
        reply_to=question,
    )
    seq = conversation.last_seq
    frames: list[dict[str, Any]] = [
        {"type": "turn_started", "user_message_id": question.pk, "message_id": reply.pk},
        {"type": "delta", "message_id": reply.pk, "text": released},
    ]
    if severity == "hold":
        frames.append({"type": "held", "message_id": reply.pk, "segment": 1, "reasons": [reason], "placeholder": "…"})
    else:
        frames.append({"type": "delta", "message_id": reply.pk, "text": held_text})
    frames.append({"type": "done", "message_id": reply.pk, "status": reply.status, "finish_reason": "stop"})
    for frame in frames:
        seq += 1
        frame.update(conversation_id=conversation.pk, seq=seq)
        Event.objects.create(conversation=conversation, seq=seq, type=frame["type"], payload=frame)
    conversation.last_seq = seq
    conversation.save(update_fields=["last_seq"])
    verdict = Verdict(
        check=check,
        label=label,
        score=1.0,
        span=(span[0], span[1]),
        passed=False,
        severity=severity,  # type: ignore[arg-type]
        detail={"model": "test", "pattern": label},
    )
    moderation_events_record(message_id=reply.pk, verdicts=[verdict])
    return reply


def grant_review(user: Any) -> Any:
    user.user_permissions.add(Permission.objects.get(content_type__app_label="review", codename="review_replies"))
    # has_perm caches per instance: hand back a fresh one.
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def reviewer(make_user: Any) -> Any:
    return grant_review(make_user("rita"))


@pytest.fixture
def reviewer2(make_user: Any) -> Any:
    return grant_review(make_user("rob"))


@pytest.fixture
def held_reply(alice: Any) -> Message:
    return make_reply(alice)


def wait_for(condition: Callable[[], Any], *, timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)  # wait-ok: poll interval of a deadline-bounded condition wait (other processes)


def require_redis() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set (CI sets it, and fails instead of skipping)")
    return url


def require_postgres() -> None:
    """Other processes must share the test database: Postgres (SQLite's test DB is in memory)."""
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            raise RuntimeError("CI must run the multi-process review tests on Postgres: set DATABASE_URL")
        pytest.skip("needs DATABASE_URL pointing at Postgres (shared with subprocesses)")


def redis_db_url(base: str, db: int) -> str:
    """``base`` with another database number, so subprocess tests never cross other Redis users."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{db}"))


def subprocess_database_url() -> str:
    """DATABASE_URL for a subprocess: the test database pytest-django made."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
