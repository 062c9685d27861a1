"""Two server processes sharing one PROMETHEUS_MULTIPROC_DIR: a scrape of either adds both up."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import ClientConnection, connect

from tests.servers import ROOT, daphne

TIMEOUT = 15.0


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=TIMEOUT) as response:
        body = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def refused_turn(ws: ClientConnection) -> None:
    """Send a message over GUARDRAILS_MAX_INPUT_CHARS and wait for its refused ``done``."""
    ws.send(json.dumps({"type": "user_message", "text": "far too long for the limit", "conversation_id": None}))
    while True:
        frame = json.loads(ws.recv(timeout=TIMEOUT))
        if frame["type"] == "done":
            assert frame["status"] == "refused"
            return


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "GUARDRAILS_MAX_INPUT_CHARS": "10",
        "DEBUG": "false",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("REDIS_URL", "CI_DATABASE_URL", "METRICS_TOKEN"):
        env.pop(name, None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    key = subprocess.run(
        [*manage, "create_api_key", "metrics-user", "--create-user"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(daphne(env, tmp_path / f"daphne-{n}.log")) for n in ("a", "b")]
        yield urls, key


def test_two_server_processes_add_up(two_servers):
    (a, b), key = two_servers
    refusals = ("chat_input_refusals_total", (("check", "length"), ("label", "too_long")))
    sockets = ("chat_sockets_open", (("kind", "chat"),))
    headers = {"Authorization": f"Bearer {key}"}
    with (
        connect(f"ws://{a.removeprefix('http://')}/ws/chat/", additional_headers=headers, open_timeout=TIMEOUT) as on_a,
        connect(f"ws://{b.removeprefix('http://')}/ws/chat/", additional_headers=headers, open_timeout=TIMEOUT) as on_b,
    ):
        refused_turn(on_a)
        refused_turn(on_b)
        refused_turn(on_b)
        for url in (a, b):  # either process serves the sum of both
            samples = scrape(url)
            assert samples.get(refusals) == 3
            assert samples.get(sockets) == 2
