"""The fault drill's scenarios as tests: real uvicorn servers, a private Redis, a cuttable
Postgres proxy, the scripted TGI server and a Celery worker (see bench/faults.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import faults
from chat import services
from tests.review.conftest import require_postgres, subprocess_database_url

pytestmark = [pytest.mark.postgres, pytest.mark.celery_broker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def drill(tmp_path: Path, transactional_db: None, seeded_library: None, monkeypatch: Any) -> Iterator[faults.Stack]:
    require_postgres()
    monkeypatch.setenv("LLM_READ_TIMEOUT", "3")
    monkeypatch.setenv("GUARDRAILS_PII", "off")
    with faults.stack(tmp_path, subprocess_database_url()) as stack:
        yield stack


@pytest.fixture
def key(alice: Any) -> str:
    return services.api_key_create(user=alice)[1]


def check(result: faults.Result, *, within: float) -> None:
    assert (result.replies_lost, result.stuck, result.review_lost_or_doubled) == (0, 0, 0), result
    assert result.seconds_to_new_turn is not None and result.seconds_to_new_turn < within, result


def test_a_redis_blip_loses_nothing_and_the_next_turn_works_at_once(drill: faults.Stack, key: str) -> None:
    check(faults.redis_blip(drill, key), within=5)


def test_a_crashed_server_s_reply_ends_failed_within_a_lease(drill: faults.Stack, key: str) -> None:
    check(faults.server_crash(drill, key), within=12)  # lease 5 s + heartbeat 1 s in the drill


def test_a_database_outage_loses_nothing(drill: faults.Stack, key: str) -> None:
    check(faults.database_outage(drill, key), within=10)


def test_a_stalled_model_ends_the_reply_and_the_next_works(drill: faults.Stack, key: str) -> None:
    result = faults.model_stall(drill, key)
    check(result, within=5)
    assert "backend_unavailable" in result.notes[0]


def test_stop_from_b_stops_a_turn_on_a(drill: faults.Stack, key: str) -> None:
    result = faults.stop_across(drill, key)
    check(result, within=5)
    assert "done stopped" in result.notes[0]


def test_a_worker_killed_in_queue_review_neither_loses_nor_doubles_the_item(drill: faults.Stack, key: str) -> None:
    check(faults.worker_kill(drill, key), within=10)


def test_revoking_a_key_closes_its_socket_on_another_process(drill: faults.Stack, key: str) -> None:
    with faults.open_socket(drill.host("a"), key) as ws:
        faults.revoke_from_process(drill, key)  # an operator's command: a third process
        frames = faults.recv_until(ws, faults.is_type("error"), timeout=10)
        assert frames[-1]["code"] == "unauthorized"
