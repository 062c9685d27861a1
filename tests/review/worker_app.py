"""The Celery app as a test worker runs it: ``celery -A tests.review.worker_app worker``.

It is ``config.celery.app`` with two test-only additions:

* unacked tasks of a dead worker come back within seconds (``REVIEW_TEST_VISIBILITY_S``),
  not after the production visibility timeout and restore sweep;
* ``REVIEW_TEST_BLOCK_AT`` = ``prerun`` | ``in_transaction`` | ``postrun`` makes the first
  ``queue_review`` to reach that point write its pid to ``$REVIEW_TEST_BLOCK_MARKER.pid`` and
  block until the test kills the process. Later deliveries pass: the marker exists.
  ``in_transaction`` is inside the service's transaction, right after the item row is inserted
  (not committed); ``postrun`` is after commit, before the late acknowledgement.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.db.models.signals import post_save

from config.celery import app

visibility = int(os.environ.get("REVIEW_TEST_VISIBILITY_S", "3"))
app.conf.broker_transport_options = {
    **(app.conf.broker_transport_options or {}),
    "visibility_timeout": visibility,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}

POINT = os.environ.get("REVIEW_TEST_BLOCK_AT", "")
MARKER = os.environ.get("REVIEW_TEST_BLOCK_MARKER", "")
TASK = "review.tasks.queue_review"


def _block(point: str) -> None:
    if point != POINT or not MARKER:
        return
    try:
        gate = os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # a redelivery: let it run
    os.close(gate)
    with open(MARKER + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(MARKER + ".tmp", MARKER + ".pid")
    threading.Event().wait()  # until the test kills this process


@task_prerun.connect
def _at_prerun(sender: Any = None, **_: Any) -> None:
    if getattr(sender, "name", "") == TASK:
        _block("prerun")


@task_postrun.connect
def _at_postrun(sender: Any = None, **_: Any) -> None:
    if getattr(sender, "name", "") == TASK:
        _block("postrun")


def _in_transaction(sender: Any, created: bool = False, **_: Any) -> None:
    if created:
        _block("in_transaction")


post_save.connect(_in_transaction, sender="review.ReviewItem", weak=False)
