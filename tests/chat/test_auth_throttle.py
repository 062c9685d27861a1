"""Failed API keys on the WebSocket handshake: counted per address, then refused for a while."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from chat import throttle
from chat.auth import THROTTLED_CLOSE_CODE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clock(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ws"}}
    settings.AUTH_FAILURE_LIMIT = 3
    settings.AUTH_LOCKOUT_MINUTES = 15
    cache.clear()
    now = [1_000_000.0]
    monkeypatch.setattr(throttle, "now", lambda: now[0])
    return now


async def test_bad_keys_lock_the_address_even_for_a_valid_key_until_it_expires(alice_key, connect, clock):
    for _ in range(3):
        connected, _ = await connect(key="gsc_0000_not-a-key")
        assert not connected

    connected, client = await connect(key=alice_key)
    assert connected  # accepted only to say why, then closed
    error = await client.recv()
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert "15 minutes" in error["detail"]
    assert (await client.ws.receive_output(timeout=5))["code"] == THROTTLED_CLOSE_CODE

    clock[0] += 15 * 60 + 1
    connected, client = await connect(key=alice_key)
    assert connected
    assert (await client.request({"type": "ping"}))["type"] == "pong"


async def test_a_valid_key_clears_earlier_failures(alice_key, connect):
    for _ in range(2):
        assert not (await connect(key="gsc_0000_not-a-key"))[0]
    assert (await connect(key=alice_key))[0]
    for _ in range(2):
        assert not (await connect(key="gsc_0000_not-a-key"))[0]
    connected, client = await connect(key=alice_key)
    assert connected and (await client.request({"type": "ping"}))["type"] == "pong"


async def refused_for(client: Any) -> str:
    """The detail of a throttled handshake's error frame (after which the socket is closed)."""
    error = await client.recv()
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert (await client.ws.receive_output(timeout=5))["code"] == THROTTLED_CLOSE_CODE
    return str(error["detail"])


async def test_after_three_bad_keys_the_next_handshake_waits_a_growing_delay(alice_key, connect, clock, settings):
    settings.AUTH_FAILURE_LIMIT = 10  # slowed well before the lock
    assert settings.AUTH_SLOW_AFTER == 3
    for _ in range(3):  # no wait before the third failure
        assert not (await connect(key="gsc_0000_not-a-key"))[0]

    connected, client = await connect(key=alice_key)  # a valid key, too soon: refused, unchecked
    assert connected
    assert "try again in 1 second." in await refused_for(client)

    clock[0] += 1
    assert not (await connect(key="gsc_0000_not-a-key"))[0]  # the fourth failure
    clock[0] += 1.5
    connected, client = await connect(key=alice_key)
    assert "try again in 1 second." in await refused_for(client)  # 2 s after the fourth: 0.5 s left
    connected, client = await connect(key="gsc_0000_not-a-key")  # a refused attempt is not counted
    assert "try again in 1 second." in await refused_for(client)

    clock[0] += 0.5
    connected, client = await connect(key=alice_key)
    assert connected and (await client.request({"type": "ping"}))["type"] == "pong"


async def test_the_delay_is_capped_and_the_lock_still_comes_at_the_limit(connect, clock, settings):
    settings.AUTH_FAILURE_LIMIT = 10
    settings.AUTH_SLOW_MAX_SECONDS = 5
    for _ in range(3):
        assert not (await connect(key="gsc_0000_not-a-key"))[0]
    for delay in [1, 2, 4, 5, 5, 5, 5]:  # after failures 3 … 9
        _, client = await connect(key="gsc_0000_not-a-key")
        assert f"try again in {delay} second" in await refused_for(client)
        clock[0] += delay
        assert not (await connect(key="gsc_0000_not-a-key"))[0]
    clock[0] += 60  # the tenth failure locks, whatever the slowing
    _, client = await connect(key="gsc_0000_not-a-key")
    assert "15 minutes" in await refused_for(client)
