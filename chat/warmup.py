"""Warm the process at start so the first reply is as fast as the tenth; readiness reports it.

:func:`start` (called once from ``config/asgi.py``) runs, in one background thread: the whole
output checker once on a sample reply (compiles the pattern library, reads it from the
database, runs the toxicity model through its batcher) and a first request to the LLM server
(its connection and, for llama.cpp, its first page-in); then it freezes the heap built so far
(:func:`settle_heap`). ``/readyz`` answers 503 ``warming``
until both were done once and then reports what they found; an unreachable LLM server is
probed again in the background (backing off to every 30 s) so readiness shows when it comes.
Processes that never call :func:`start` (management commands) report ``not started`` and
readiness does not wait for them.
"""

from __future__ import annotations

import asyncio
import gc
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
_PROBE_MAX_S = 30.0

_lock = threading.Lock()
_stop = threading.Event()
_state: dict[str, Any] = {
    "started": False,
    "done": False,
    "checks": "not run",
    "llm": "not probed",
    "seconds": None,
    "heap_frozen": 0,
}


def state() -> dict[str, Any]:
    """A copy of the warm-up state: ``checks`` (``"ok"`` or the error), ``llm`` (``"reachable"``,
    ``"not configured"`` or why not), ``seconds`` (how long the warm-up took), ``heap_frozen``
    (objects the garbage collector no longer walks, :func:`settle_heap`) and ``warm`` (True
    once the warm-up ran, or when it was never started)."""
    with _lock:
        copy = dict(_state)
    copy["warm"] = not copy["started"] or copy["done"]
    return copy


def start() -> threading.Thread | None:
    """Start warming in a daemon thread (returns it; a second call does nothing, returns None)."""
    with _lock:
        if _state["started"]:
            return None
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
        result = "ok"
    except Exception as exc:  # a broken check shows in the first reply's verdicts; say it here too
        log.exception("warming the checks failed")
        result = f"error: {type(exc).__name__}: {exc}"
    with _lock:
        _state["checks"] = result
        _state["heap_frozen"] = settle_heap()
    base_url = str(getattr(settings, "LLM_BASE_URL", "") or "").rstrip("/")
    reachable = _probe(base_url) if base_url else False
    with _lock:
        if not base_url:
            _state["llm"] = "not configured"
        _state["seconds"] = round(time.monotonic() - began, 3)
        _state["done"] = True
    log.info("warm-up done in %.2f s: %s", time.monotonic() - began, state())
    wait = _PROBE_EVERY_S
    while base_url and not reachable and not _stop.wait(wait):
        reachable = _probe(base_url)
        wait = min(wait * 2, _PROBE_MAX_S)


def settle_heap() -> int:
    """Move every object alive now out of the garbage collector's sight; returns how many.

    What exists once the models are loaded and the checks have run (Django, torch or
    scikit-learn, the compiled pattern library: ~370,000 objects) lives as long as the process,
    yet each full collection walked it all: ~0.2 s with the event loop stopped, every few
    seconds under load, which every stream's next token waited for. Frozen, it is skipped
    (``gc.freeze``); garbage in it is collected first, and what is made later is collected
    as before. Reference counting still frees frozen objects that are dropped.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


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
