"""DESIGN §8: two server processes share Redis and Postgres. The user's socket is on A, the
reviewer's decision is posted to B's API, and A's socket shows it live; reconnecting to B
replays it once."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.sync.client import ClientConnection, connect

from chat import services
from review import services as review
from tests.review.conftest import (
    grant_review,
    make_reply,
    redis_db_url,
    require_postgres,
    require_redis,
    subprocess_database_url,
)
from tests.servers import daphne

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 15  # this file's own Redis database: flushed before the test
TIMEOUT = 15.0


@pytest.fixture
def servers(tmp_path: Path, transactional_db: None) -> Iterator[list[str]]:
    """Two daphne processes on free ports, sharing the test database and a Redis database."""
    url = require_redis()
    require_postgres()
    redis_url = redis_db_url(url, REDIS_DB)
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": subprocess_database_url(),
        "DEBUG": "false",
        "CHAT_EVENT_FLUSH_MS": "50",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CI_DATABASE_URL", None)
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(daphne(env, tmp_path / f"daphne-{name}.log")) for name in ("a", "b")]
        try:
            yield [url.removeprefix("http://") for url in urls]
        finally:
            for name in ("a", "b"):
                log = tmp_path / f"daphne-{name}.log"
                sys.stderr.write(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}\n")


def open_socket(host: str, key: str) -> ClientConnection:
    return connect(f"ws://{host}/ws/chat/", additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=TIMEOUT)


def recv_until(ws: ClientConnection, type_: str) -> list[dict[str, Any]]:
    """Frames up to and including the first of ``type_``, within TIMEOUT seconds in all."""
    deadline = time.monotonic() + TIMEOUT
    frames = []
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        frames.append(frame)
        if frame["type"] == type_:
            return frames


def subscribe(ws: ClientConnection, conversation_id: int, after_seq: int) -> list[dict[str, Any]]:
    """Subscribe; the replayed frames (a ping's pong marks the end: one frame at a time per socket)."""
    ws.send(json.dumps({"type": "subscribe", "conversation_id": conversation_id, "after_seq": after_seq}))
    ws.send(json.dumps({"type": "ping"}))
    return recv_until(ws, "pong")[:-1]


def post_json(url: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_decision_on_b_reaches_the_socket_on_a_and_replays_once_on_b(
    servers: list[str], alice: Any, make_user: Any
) -> None:
    host_a, host_b = servers
    reviewer = grant_review(make_user("rita"))
    alice_key = services.api_key_create(user=alice)[1]
    reviewer_key = services.api_key_create(user=reviewer)[1]
    reply = make_reply(alice)
    item = review.review_item_create(message_id=reply.pk)
    conversation_id, before = reply.conversation_id, reply.conversation.last_seq

    with open_socket(host_a, alice_key) as on_a:
        assert subscribe(on_a, conversation_id, after_seq=before) == []
        status, body = post_json(
            f"http://{host_b}/api/reviews/{item.pk}/decision",
            {"decision": "edit", "text": "Call us at +1 800 555 0100.", "note": "invented number"},
            reviewer_key,
        )
        assert status == 200, body
        assert body["status"] == "decided" and body["decided_by"] == "rita"
        (live,) = recv_until(on_a, "review_resolved")
    assert live == {
        "type": "review_resolved",
        "conversation_id": conversation_id,
        "seq": before + 1,
        "message_id": reply.pk,
        "decision": "edited",
        "text": "Call us at +1 800 555 0100.",
        "replaces": "held",
        "segments": ["Call us at +1 800 555 0100."],  # what each held segment shows now
    }

    with open_socket(host_b, alice_key) as on_b:
        replay = subscribe(on_b, conversation_id, after_seq=0)
    assert [f["seq"] for f in replay] == list(range(1, before + 2))
    assert [f for f in replay if f["type"] == "review_resolved"] == [live]

    status, again = post_json(f"http://{host_a}/api/reviews/{item.pk}/decision", {"decision": "approve"}, reviewer_key)
    assert status == 409 and again["code"] == "already_decided"
