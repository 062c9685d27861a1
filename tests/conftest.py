"""Shared fixtures: users, API keys, the scripted TGI server, WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from tests.tgi_server import TGIServer

if os.environ.get("CI") and not os.environ.get("REDIS_URL"):
    # CI must exercise Redis and Postgres: a missing variable is a broken CI, not a skip.
    raise RuntimeError("CI is set but REDIS_URL is not: .ci/run must export it")

FRAME_TIMEOUT = 10.0


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last, together: their sync Playwright must not overlap async tests."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def fresh_channel_layer(settings: Any) -> None:
    """Each test gets new channel layers (the in-memory one keeps groups across tests)."""
    channel_layers.backends = {}


@pytest.fixture(autouse=True)
def fast_flush(settings: Any) -> None:
    settings.CHAT_EVENT_FLUSH_MS = 20


@pytest.fixture(autouse=True)
def eager_celery(request: pytest.FixtureRequest) -> Any:
    """Tasks run in-process, as in the embedded default, even when CI sets REDIS_URL.

    Tests that exercise a real worker through the broker opt out with
    ``@pytest.mark.celery_broker``.
    """
    from config.celery import app

    if request.node.get_closest_marker("celery_broker"):
        yield
        return
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def seeded_library(transactional_db: None) -> None:
    """The default pattern library in the database for transactional tests (which empty every
    table after each test, so the data migration's rows are gone for all but the first)."""
    from guardrails.library import SEED
    from guardrails.models import Pattern

    for row in SEED:
        Pattern.objects.get_or_create(name=row["name"], defaults={k: v for k, v in row.items() if k != "name"})


@pytest.fixture
def make_user(db: None) -> Any:
    def make(username: str = "alice", **extra: Any) -> Any:
        return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)

    return make


@pytest.fixture
def alice(make_user: Any) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Any) -> Any:
    return make_user("bob")


@pytest.fixture
def alice_key(alice: Any) -> str:
    """A raw API key for alice (factories run in sync fixtures, never in async tests)."""
    from chat import services

    return services.api_key_create(user=alice)[1]


@pytest.fixture
def bob_key(bob: Any) -> str:
    from chat import services

    return services.api_key_create(user=bob)[1]


@pytest.fixture
async def tgi(settings: Any) -> AsyncIterator[TGIServer]:
    """A scripted TGI server in this test's loop; the app's LLM_BASE_URL points at it."""
    async with TGIServer() as server:
        settings.LLM_BASE_URL = server.url
        settings.LLM_API = "chat"
        yield server


async def wait_turn(message_id: int, timeout: float = FRAME_TIMEOUT) -> None:
    """Wait for a turn running in this process to finish storing everything."""
    from chat import control

    task = control.RUNNING.get(message_id)
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), timeout)


class Client:
    """A WebSocket client speaking protocol v1 to the real ASGI application."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await self.ws.receive_from(timeout=timeout))
        self.frames.append(frame)
        return frame

    async def recv_until(self, type_: str, timeout: float = FRAME_TIMEOUT, **match: Any) -> list[dict[str, Any]]:
        """Frames up to and including the first of ``type_`` whose fields match."""
        got = []

        async def collect() -> None:
            while True:
                frame = await self.recv(timeout)
                got.append(frame)
                if frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items()):
                    return

        try:
            await asyncio.wait_for(collect(), timeout)
        except TimeoutError:
            seen = [f["type"] for f in got]
            raise AssertionError(f"no {type_} {match or ''} within {timeout}s; got {seen}") from None
        return got

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        await self.send(frame)
        return await self.recv()

    async def assert_silent(self, timeout: float = 0.3) -> None:
        assert await self.ws.receive_nothing(timeout=timeout), "unexpected frame"

    async def close(self) -> None:
        await self.ws.disconnect()


@pytest.fixture
async def connect() -> AsyncIterator[Any]:
    """``await connect(key=...)`` or ``await connect(headers=[...])`` → (connected, Client)."""
    from config.asgi import application

    opened: list[Client] = []

    async def open_(*, key: str | None = None, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[bool, Client]:
        all_headers = list(headers or [])
        if key is not None:
            all_headers.append((b"authorization", f"Bearer {key}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=all_headers)
        connected, _ = await communicator.connect(timeout=FRAME_TIMEOUT)
        client = Client(communicator)
        # Refused ones too: their consumer runs (reading the channel layer) until disconnect.
        opened.append(client)
        return connected, client

    yield open_
    for client in opened:
        with contextlib.suppress(Exception):
            await client.close()
    # Let turns started by the test finish their bookkeeping before the loop closes.
    from chat import control

    pending = list(control.RUNNING.values())
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=FRAME_TIMEOUT)
    await control.close_control()
    from chat import leases

    await leases.close()
    from observability import loadwatch

    await loadwatch.close()
    # channels-redis keeps pooled connections per loop; close them in this one.
    close_pools = getattr(channel_layers.backends.get("default"), "close_pools", None)
    if close_pools is not None:
        await close_pools()
