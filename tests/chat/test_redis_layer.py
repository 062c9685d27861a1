"""channels-redis: events and stops travel between processes through Redis.

A second ``RedisChannelLayer`` instance stands for another server process: it shares
nothing with the app's layer but Redis itself.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest
from channels.layers import channel_layers
from channels_redis.core import RedisChannelLayer

from chat import control, events
from tests.conftest import wait_turn
from tests.tgi_server import Script

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set (CI sets it, and fails instead of skipping)")
    return url


@pytest.fixture
def redis_prefix(settings: Any, redis_url: str) -> str:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": prefix},
        }
    }
    channel_layers.backends = {}
    return prefix


async def test_events_reach_a_consumer_in_another_process(tgi, alice_key, connect, redis_url, redis_prefix):
    other_process = RedisChannelLayer(hosts=[{"address": redis_url, "socket_timeout": 15}], prefix=redis_prefix)
    tgi.push(Script(tokens=["first"]), Script(tokens=["over", " redis"], rate=100))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "hi", "conversation_id": None})
    first = await client.recv_until("done")
    conversation_id = first[0]["conversation_id"]
    await wait_turn(first[0]["message_id"])

    channel = await other_process.new_channel()
    await other_process.group_add(events.conversation_group(conversation_id), channel)
    await client.send({"type": "user_message", "text": "again", "conversation_id": conversation_id})
    seen: list[dict[str, Any]] = []

    async def read_until_done() -> None:
        while True:
            message = await other_process.receive(channel)
            if message["type"] == events.FRAME:
                seen.append(message["frame"])
                if message["frame"]["type"] == "done":
                    return

    await asyncio.wait_for(read_until_done(), 10)
    mine = await client.recv_until("done")
    assert seen == mine  # turn_started, deltas, done: the same frames, in order
    assert "".join(f["text"] for f in seen if f["type"] == "delta") == "over redis"
    await other_process.flush()


async def test_a_second_socket_follows_live_through_redis(tgi, alice_key, connect, redis_prefix):
    tgi.push(Script(tokens=[f"t{i} " for i in range(30)], rate=60))
    _, first = await connect(key=alice_key)
    _, second = await connect(key=alice_key)
    await first.send({"type": "user_message", "text": "hi", "conversation_id": None})
    started = (await first.recv_until("turn_started"))[-1]
    await second.send({"type": "subscribe", "conversation_id": started["conversation_id"], "after_seq": 0})
    on_second = await second.recv_until("done")
    on_first = [started, *await first.recv_until("done")]
    assert on_second == on_first
    seqs = [f["seq"] for f in on_second]
    assert seqs == sorted(set(seqs))


async def test_stop_reaches_a_turn_running_in_another_process(
    tgi, alice_key, connect, redis_url, redis_prefix, monkeypatch
):
    tgi.push(Script(n_tokens=500, rate=40))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "long", "conversation_id": None})
    started = (await client.recv_until("delta"))[0]
    task = control.RUNNING[started["message_id"]]

    # Another node: its own Redis connection, and no such turn in its registry.
    other_process = RedisChannelLayer(hosts=[{"address": redis_url, "socket_timeout": 15}], prefix=redis_prefix)
    monkeypatch.setattr(control, "_layer", lambda: other_process)
    monkeypatch.setattr(control, "RUNNING", {})
    await control.request_stop(started["message_id"])
    monkeypatch.undo()

    done = (await client.recv_until("done"))[-1]
    assert done["status"] == "stopped"
    await asyncio.wait_for(task, 10)
    await tgi.wait_for(lambda: tgi.disconnects, timeout=5)


async def test_a_socket_idle_longer_than_redis_read_timeouts_stays_usable(tgi, alice_key, connect, redis_prefix):
    """redis-py's default 5 s read timeout used to kill idle consumers on channels-redis."""
    tgi.push(Script(tokens=["Still here."]))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": "hi", "conversation_id": None})
    first = await client.recv_until("done")
    await client.assert_silent(timeout=7)  # idle past the old 5 s limit, following the conversation
    await client.send({"type": "user_message", "text": "again", "conversation_id": first[0]["conversation_id"]})
    frames = await client.recv_until("done")
    assert frames[-1]["status"] == "complete"
