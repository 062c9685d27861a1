from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from guardrails.checks.batcher import InlineBatcher, MicroBatcher


class Gate:
    """predict() that blocks until released, so requests pile up into one batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.entered.set()
        assert self.release.wait(10)
        return [i * 10 for i in items]


async def test_concurrent_requests_share_batches_and_get_their_own_results() -> None:
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch=8, max_wait_s=0.0)
    first = asyncio.ensure_future(batcher.submit(0))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 20)]
    await asyncio.sleep(0)  # wait-ok: yields to the loop once, waits for nothing
    gate.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *rest), 10)
    assert results == [i * 10 for i in range(20)]
    assert gate.batches[0] == [0]
    assert max(len(b) for b in gate.batches) == 8  # the queued 19 went in full batches
    assert batcher.stats.items == 20
    batcher.close()


async def test_a_failing_batch_fails_each_of_its_callers() -> None:
    def predict(items: Sequence[int]) -> list[int]:
        raise ValueError("bad batch")

    batcher = MicroBatcher(predict, max_batch=4, max_wait_s=0.001)
    with pytest.raises(ValueError, match="bad batch"):
        await asyncio.wait_for(batcher.submit(1), 10)
    batcher.close()


async def test_a_caller_that_gave_up_is_skipped() -> None:
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch=8, max_wait_s=0.0)
    first = asyncio.ensure_future(batcher.submit(0))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    abandoned = asyncio.ensure_future(batcher.submit(1))
    kept = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)  # wait-ok: yields to the loop once, waits for nothing
    abandoned.cancel()
    gate.release.set()
    assert list(await asyncio.wait_for(asyncio.gather(first, kept), 10)) == [0, 20]
    assert [1] not in gate.batches and all(1 not in b for b in gate.batches)
    batcher.close()


# --- InlineBatcher: the same contract on the callers' event loop -------------------------------


async def test_inline_requests_submitted_together_share_one_call_and_get_their_own_results() -> None:
    calls: list[list[int]] = []

    def predict(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return [i * 10 for i in items]

    batcher = InlineBatcher(predict, max_batch=8)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(20))), 10)
    assert results == [i * 10 for i in range(20)]
    assert calls == [list(range(8)), list(range(8, 16)), list(range(16, 20))]  # one loop turn, full batches
    assert await asyncio.wait_for(batcher.submit(7), 10) == 70  # a later request gets its own call
    assert batcher.stats.batches == 4 and batcher.stats.items == 21


async def test_inline_a_failing_batch_fails_each_of_its_callers_and_the_next_batch_runs() -> None:
    def predict(items: Sequence[int]) -> list[int]:
        if 0 in items:
            raise ValueError("bad batch")
        return list(items)

    batcher = InlineBatcher(predict)
    results = await asyncio.wait_for(asyncio.gather(batcher.submit(0), batcher.submit(1), return_exceptions=True), 10)
    assert [type(r) for r in results] == [ValueError, ValueError]
    assert await asyncio.wait_for(batcher.submit(2), 10) == 2


async def test_inline_a_caller_that_gave_up_is_skipped() -> None:
    seen: list[int] = []

    def predict(items: Sequence[int]) -> list[int]:
        seen.extend(items)
        return list(items)

    batcher = InlineBatcher(predict)
    abandoned = asyncio.ensure_future(batcher.submit(1))
    kept = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)  # wait-ok: yields once so both requests are queued; waits for nothing
    abandoned.cancel()
    assert await asyncio.wait_for(kept, 10) == 2
    assert seen == [2]


def test_inline_serves_each_event_loop_on_its_own() -> None:
    def predict(items: Sequence[int]) -> list[int]:
        return [i + 1 for i in items]

    batcher = InlineBatcher(predict)

    async def one(i: int) -> int:
        return await asyncio.wait_for(batcher.submit(i), 10)

    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(asyncio.run(one(1))))
    thread.start()
    answers.append(asyncio.run(one(2)))
    thread.join(10)
    assert sorted(answers) == [2, 3]
