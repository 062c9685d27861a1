"""Micro-batching: many coroutines' inference requests served by one ``predict`` call.

Async callers ``await batcher.submit(item)``. :class:`MicroBatcher` serves them from one worker
thread: it takes the first waiting item, gathers more for up to ``max_wait_s`` (or until
``max_batch``), runs ``predict`` on the batch once and hands each caller its own result on that
caller's event loop. One thread per model: inference never blocks an event loop, and under load
each model call serves many streams. :class:`InlineBatcher` has the same contract for a model
that costs microseconds an item, where the thread hand-off would cost more than the inference:
it runs ``predict`` on the callers' event loop, once per loop iteration, for everything
submitted in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Request(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    loop: asyncio.AbstractEventLoop


_STOP = object()


@dataclass(slots=True)
class BatchStats:
    batches: int = 0
    items: int = 0
    busy_s: float = 0.0

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class MicroBatcher(Generic[T, R]):
    """Contract: ``predict(items)`` returns one result per item, in order; if it raises, every
    caller in that batch gets the exception. A caller that stops waiting (timeout, cancel) is
    skipped if its batch has not started, and its late result is dropped otherwise."""

    def __init__(
        self,
        predict: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.005,
        name: str = "inference",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue[_Request[T, R] | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=f"{name}-batcher", daemon=True)
        self._thread.start()

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put(_Request(item, future, loop))
        return await future

    def close(self) -> None:
        """Stop the worker after the requests already queued (idempotent)."""
        self._queue.put(_STOP)

    # --- worker thread ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            stop = False
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._run([r for r in batch if isinstance(r, _Request) and not r.future.cancelled()])
            if stop:
                return

    def _run(self, batch: list[_Request[T, R]]) -> None:
        if not batch:
            return
        started = time.perf_counter()
        try:
            results = list(self._predict([r.item for r in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"predict returned {len(results)} results for {len(batch)} items")
        except Exception as exc:
            log.exception("batched inference failed for %d items", len(batch))
            self._count(batch, started)
            for request in batch:
                self._deliver(request, None, exc)
        else:
            self._count(batch, started)
            for request, result in zip(batch, results, strict=True):
                self._deliver(request, result, None)

    def _count(self, batch: list[_Request[T, R]], started: float) -> None:
        # Before the results go out: a caller that has its result sees its batch counted.
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.busy_s += time.perf_counter() - started

    @staticmethod
    def _deliver(request: _Request[T, R], result: R | None, error: Exception | None) -> None:
        def resolve() -> None:
            if request.future.done():  # the caller gave up (timeout or cancel)
                return
            if error is not None:
                request.future.set_exception(error)
            else:
                request.future.set_result(result)  # type: ignore[arg-type]  # result is set when error is None

        with contextlib.suppress(RuntimeError):  # RuntimeError: that caller's event loop has closed
            request.loop.call_soon_threadsafe(resolve)


class InlineBatcher(Generic[T, R]):
    """:class:`MicroBatcher`'s contract without a thread, for a cheap ``predict``.

    The first ``submit`` of a loop iteration schedules one ``predict`` (``loop.call_soon``) for
    every item submitted on that loop until it runs (up to ``max_batch`` a call), so the checks
    of all the chunks that became ready together are scored together. ``predict`` blocks the
    loop while it runs: only for models that score a batch in about a millisecond. A caller
    that stopped waiting before its batch ran is skipped.
    """

    def __init__(self, predict: Callable[[Sequence[T]], Sequence[R]], *, max_batch: int = 32) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._predict = predict
        self.max_batch = max_batch
        self.stats = BatchStats()
        # Requests per event loop (a process may run several: tests, management commands).
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[T, asyncio.Future[R]]]] = {}

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._run, loop)
        pending.append((item, future))
        return await future

    def close(self) -> None:
        """Nothing to stop: there is no thread (idempotent, like :meth:`MicroBatcher.close`)."""

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        requests = [r for r in self._pending.pop(loop, []) if not r[1].done()]
        for start in range(0, len(requests), self.max_batch):
            batch = requests[start : start + self.max_batch]
            started = time.perf_counter()
            try:
                results = list(self._predict([item for item, _ in batch]))
                if len(results) != len(batch):
                    raise RuntimeError(f"predict returned {len(results)} results for {len(batch)} items")
            except Exception as exc:
                log.exception("batched inference failed for %d items", len(batch))
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
            self.stats.batches += 1
            self.stats.items += len(batch)
            self.stats.busy_s += time.perf_counter() - started
