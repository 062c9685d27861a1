"""Warm the process at start so the first reply is as fast as the tenth; readiness reports it.

:func:`start` (called once from ``config/asgi.py``) runs, in one background thread: the whole
output checker once on a sample reply (compiles the pattern library, reads it from the
database, runs the toxicity model through its batcher) and a probe of the LLM server until it
answers. ``/readyz`` shows :func:`state` and answers 503 ``warming`` until both are done.
Processes that never call :func:`start` (tests, management commands) report ``not started``
and readiness does not wait for them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

from guardrails import wiring

log = logging.getLogger(__name__)

SAMPLE = "Thanks for reaching out! Your order shipped yesterday; see https://example.com/orders for tracking."
_PROBE_EVERY_S = 1.0

_lock = threading.Lock()
_stop = threading.Event()
_state: dict[str, Any] = {"started": False, "checks": False, "llm": "not probed", "seconds": None}


def state() -> dict[str, Any]:
    """A copy of the warm-up state: ``started``, ``checks`` (bool), ``llm`` (``"reachable"``,
    ``"not configured"`` or why not yet), ``seconds`` (how long warming took, once done) and
    ``warm`` (True when nothing is left to do, or warm-up was never started)."""
    with _lock:
        copy = dict(_state)
    copy["warm"] = not copy["started"] or (copy["checks"] and copy["llm"] in ("reachable", "not configured"))
    return copy


def start() -> threading.Thread:
    """Start warming in a daemon thread (returns it; call once per process)."""
    with _lock:
        _state["started"] = True
    _stop.clear()
    thread = threading.Thread(target=_warm, name="warm-up", daemon=True)
    thread.start()
    return thread


def stop() -> None:
    """Stop probing (tests; a process simply exits)."""
    _stop.set()


def _warm() -> None:
    began = time.monotonic()
    try:
        checker = wiring.get_checker()
        asyncio.run(checker.check(SAMPLE, context="", offset=0))
        with _lock:
            _state["checks"] = True
    except Exception:  # a broken check shows in the first reply's verdicts; say it here too
        log.exception("warming the checks failed")
    base_url = str(getattr(settings, "LLM_BASE_URL", "") or "").rstrip("/")
    if not base_url:
        with _lock:
            _state["llm"] = "not configured"
    else:
        while not _probe(base_url):
            if _stop.wait(_PROBE_EVERY_S):
                return
    with _lock:
        _state["seconds"] = round(time.monotonic() - began, 3)
    log.info("warm in %.2f s: %s", time.monotonic() - began, state())


def _probe(base_url: str) -> bool:
    """True once the LLM server answers HTTP at all (any status: it is up and listening)."""
    reason: str
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=5):
            reason = "reachable"
    except urllib.error.HTTPError:
        reason = "reachable"
    except (urllib.error.URLError, OSError) as exc:
        reason = f"unreachable: {getattr(exc, 'reason', exc)}"
    with _lock:
        _state["llm"] = reason
    return reason == "reachable"
