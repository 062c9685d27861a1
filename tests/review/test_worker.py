"""queue_review on a real Celery worker (a subprocess) against Redis and Postgres.

Exactly one ReviewItem per reply however the task is delivered: twice on purpose, or again
after the worker was SIGKILLed before, inside, or after the service's transaction.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from review.models import ReviewItem
from tests.review.conftest import (
    make_reply,
    redis_db_url,
    require_postgres,
    require_redis,
    subprocess_database_url,
    wait_for,
)

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.celery_broker,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 14  # this file's own Redis database: flushed before each test
TASK = "review.tasks.queue_review"


@dataclass
class Workers:
    """Starts test workers on one queue; kills them; reads what they logged."""

    broker_url: str
    database_url: str
    tmp: Path
    queue: str = field(default_factory=lambda: f"review-test-{uuid.uuid4().hex[:8]}")
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, *, pool: str = "solo", block_at: str = "") -> subprocess.Popen[bytes]:
        log = self.tmp / f"worker-{len(self.logs)}.log"
        env = {
            **os.environ,
            "REDIS_URL": self.broker_url,
            "DATABASE_URL": self.database_url,
            "REVIEW_TEST_BLOCK_AT": block_at,
            "REVIEW_TEST_BLOCK_MARKER": str(self.marker),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("CI_DATABASE_URL", None)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.review.worker_app",
            "worker",
            f"--pool={pool}",
            "--concurrency=1",
            "-Q",
            self.queue,
            "-n",
            f"{self.queue}-{len(self.logs)}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.running.append(process)
        self.logs.append(log)
        wait_for(lambda: self._ready(process, log), timeout=60, what=f"worker to start ({log})")
        return process

    @property
    def marker(self) -> Path:
        return self.tmp / "blocked"

    def _ready(self, process: subprocess.Popen[bytes], log: Path) -> bool:
        if process.poll() is not None:
            raise AssertionError(f"worker exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        return " ready." in log.read_text(errors="replace")

    def log_text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs)

    def successes(self, task_id: str) -> int:
        return self.log_text().count(f"Task {TASK}[{task_id}] succeeded")

    def blocked_pid(self) -> int:
        pid_file = Path(str(self.marker) + ".pid")
        wait_for(pid_file.exists, what="queue_review to reach the blocking point")
        return int(pid_file.read_text())

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)


@pytest.fixture
def workers(tmp_path: Path, transactional_db: None) -> Iterator[Workers]:
    url = require_redis()
    require_postgres()
    broker_url = redis_db_url(url, REDIS_DB)
    redis.Redis.from_url(broker_url).flushdb()
    pool = Workers(broker_url=broker_url, database_url=subprocess_database_url(), tmp=tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
        for log in pool.logs:  # kept next to the test's tmp dir; shown when a test fails
            sys.stderr.write(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}\n")


@pytest.fixture
def producer(workers: Workers) -> Iterator[Celery]:
    app = Celery("review-tests", broker=workers.broker_url)
    try:
        yield app
    finally:
        app.close()


def send(producer: Celery, workers: Workers, message_id: int, task_id: str | None = None) -> str:
    result = producer.send_task(TASK, args=[message_id], queue=workers.queue, task_id=task_id)
    return str(result.id)


def broker_is_drained(workers: Workers) -> bool:
    client = redis.Redis.from_url(workers.broker_url)
    return client.llen(workers.queue) == 0 and client.hlen("unacked") == 0


def test_a_held_reply_gets_one_item_even_when_delivered_twice(workers: Workers, producer: Celery, alice: Any) -> None:
    reply = make_reply(alice)
    workers.start()
    first = send(producer, workers, reply.pk)
    second = send(producer, workers, reply.pk, task_id=first)  # the same task, redelivered
    third = send(producer, workers, reply.pk)  # or queued twice
    assert first == second
    wait_for(lambda: workers.successes(first) == 2 and workers.successes(third) == 1, what="three deliveries")
    assert ReviewItem.objects.filter(reply=reply).count() == 1
    item = ReviewItem.objects.get(reply=reply)
    assert item.status == "pending" and item.reasons[0]["label"] == "phone_number"


@pytest.mark.parametrize("block_at", ["prerun", "in_transaction", "postrun"])
def test_killing_the_worker_mid_task_loses_nothing_and_doubles_nothing(
    workers: Workers, producer: Celery, alice: Any, block_at: str
) -> None:
    reply = make_reply(alice)
    doomed = workers.start(block_at=block_at)
    task_id = send(producer, workers, reply.pk)
    assert workers.blocked_pid() == doomed.pid
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    committed = ReviewItem.objects.filter(reply=reply).count()
    assert committed == (1 if block_at == "postrun" else 0)

    workers.start()  # a fresh worker picks the unacknowledged task up again
    wait_for(lambda: workers.successes(task_id) >= 1, what="the redelivered task to succeed")
    wait_for(lambda: broker_is_drained(workers), what="the task to be acknowledged")
    assert ReviewItem.objects.filter(reply=reply).count() == 1


def test_a_lost_pool_child_is_redelivered_at_once(workers: Workers, producer: Celery, alice: Any) -> None:
    """prefork: the child running the task dies; task_reject_on_worker_lost requeues it."""
    reply = make_reply(alice)
    parent = workers.start(pool="prefork", block_at="in_transaction")
    task_id = send(producer, workers, reply.pk)
    child = workers.blocked_pid()
    assert child != parent.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGKILL)
    wait_for(lambda: workers.successes(task_id) >= 1, what="the requeued task to succeed in a new child")
    wait_for(lambda: broker_is_drained(workers), what="the task to be acknowledged")
    assert ReviewItem.objects.filter(reply=reply).count() == 1
    assert parent.poll() is None
    assert "WorkerLostError" in workers.log_text()
