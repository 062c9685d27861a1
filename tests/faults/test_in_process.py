"""Faults that one process shows: refused input in later history, a stalled model, overload."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from chat import control
from tests.conftest import wait_turn
from tests.tgi_server import Script

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded_library")]


def sent_texts(tgi: Any) -> list[str]:
    """Every message text the model was sent, in every generation request."""
    return [m["content"] for r in tgi.generation_requests for m in r.json.get("messages", [])]


@pytest.mark.parametrize("refused_text", ["you are a fucking idiot", "a" * 51])
async def test_a_refused_message_never_reaches_the_llm_on_a_later_turn(
    settings: Any, tgi: Any, alice_key: str, connect: Any, refused_text: str
) -> None:
    settings.GUARDRAILS_MAX_INPUT_CHARS = 50
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": refused_text, "conversation_id": None})
    done = (await client.recv_until("done"))[-1]
    assert done["status"] == "refused"
    await wait_turn(done["message_id"])

    tgi.push(Script(tokens=["Hello", "!"]))
    await client.send({"type": "user_message", "text": "hi there", "conversation_id": done["conversation_id"]})
    done = (await client.recv_until("done"))[-1]
    assert done["status"] == "complete"
    assert "hi there" in sent_texts(tgi)
    assert refused_text not in sent_texts(tgi)


async def test_a_stalled_model_ends_the_reply_failed_within_the_read_timeout(
    settings: Any, tgi: Any, alice_key: str, connect: Any
) -> None:
    settings.LLM_READ_TIMEOUT = 1.0
    tgi.push(Script(tokens=["One", " two", " three"], stall_after=2))
    _, client = await connect(key=alice_key)
    started = time.monotonic()
    await client.send({"type": "user_message", "text": "hello", "conversation_id": None})
    frames = await client.recv_until("done", timeout=settings.LLM_READ_TIMEOUT + 5)
    elapsed = time.monotonic() - started
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "backend_unavailable" and error["detail"]
    assert frames[-1]["status"] == "failed"
    assert elapsed < settings.LLM_READ_TIMEOUT + 2
    await wait_turn(frames[-1]["message_id"])

    tgi.push(Script(tokens=["Back", "!"]))
    await client.send({"type": "user_message", "text": "again", "conversation_id": frames[-1]["conversation_id"]})
    assert (await client.recv_until("done"))[-1]["status"] == "complete"


async def test_past_the_running_turn_cap_a_message_is_refused_at_once_with_a_retry_hint(
    settings: Any, tgi: Any, alice_key: str, bob_key: str, connect: Any
) -> None:
    settings.CHAT_MAX_RUNNING_TURNS = 1
    tgi.push(Script(n_tokens=200, rate=50))
    _, alice = await connect(key=alice_key)
    _, bob = await connect(key=bob_key)
    await alice.send({"type": "user_message", "text": "long one", "conversation_id": None})
    started = (await alice.recv_until("turn_started"))[-1]

    error = await bob.request({"type": "user_message", "text": "me too", "conversation_id": None})
    assert error["type"] == "error" and error["code"] == "backend_overloaded"
    assert isinstance(error["retry_after"], int) and error["retry_after"] >= 1
    assert "try again" in error["detail"].lower()

    await control.request_stop(started["message_id"])
    await wait_turn(started["message_id"])
    tgi.push(Script(tokens=["ok"]))
    await bob.send({"type": "user_message", "text": "me too", "conversation_id": None})
    assert (await bob.recv_until("done"))[-1]["status"] == "complete"
    await asyncio.sleep(0)  # wait-ok: yield once so the finished turns' callbacks run


async def test_while_the_event_loop_runs_behind_a_message_is_refused_and_nothing_is_stored(
    settings: Any, tgi: Any, alice_key: str, connect: Any
) -> None:
    """Past CHAT_MAX_LOOP_LAG_MS of event-loop lag a new turn is refused with a retry hint,
    before the running replies' checks would time out; once the loop caught up (and the
    lag left the window), the same message goes through."""
    from asgiref.sync import sync_to_async

    from chat.models import Message
    from observability import loadwatch
    from tests.observability.test_metrics import scrape, value

    settings.CHAT_MAX_LOOP_LAG_MS = 200
    before = await sync_to_async(scrape)()
    _, alice = await connect(key=alice_key)  # a chat socket starts the loop's probe
    assert loadwatch.lag() < 0.2
    # A long synchronous step holds the loop, as a saturated core does.
    time.sleep(0.4)  # noqa: ASYNC251  # wait-ok: blocking the event loop is the condition under test
    assert loadwatch.lag() >= 0.3

    error = await alice.request({"type": "user_message", "text": "hello", "conversation_id": None})
    assert error["type"] == "error" and error["code"] == "backend_overloaded"
    assert error["retry_after"] >= 1 and "try again" in error["detail"].lower()
    assert await Message.objects.acount() == 0  # nothing stored: resending loses nothing
    after = await sync_to_async(scrape)()
    refused = "chat_turns_refused_overloaded_total"
    assert value(after, refused, reason="lag") == value(before, refused, reason="lag") + 1
    assert value(after, "chat_event_loop_lag_seconds_count") > value(before, "chat_event_loop_lag_seconds_count")

    deadline = time.monotonic() + loadwatch.WINDOW + 5
    while loadwatch.lag() >= 0.2:
        assert time.monotonic() < deadline, "the loop never caught up"
        await asyncio.sleep(0.05)  # wait-ok: poll interval of a deadline-bounded condition wait
    tgi.push(Script(tokens=["ok"]))
    await alice.send({"type": "user_message", "text": "hello", "conversation_id": None})
    assert (await alice.recv_until("done"))[-1]["status"] == "complete"
