"""Stage plumbing and the checking stage. No Django.

A stage is ``Callable[[AsyncIterator[Any]], AsyncIterator[Any]]``: it consumes the stream
before it and yields its own items, passing through (in order) every item it does not handle.
:func:`guardrails.pipeline.moderation` orders the moderation stages; :func:`compose` runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from guardrails.checks import Checker, Verdict
from guardrails.chunking import Chunk

Stage = Callable[[AsyncIterator[Any]], AsyncIterator[Any]]


def compose(source: AsyncIterator[Any], *stages: Stage) -> AsyncIterator[Any]:
    """``stages[-1](…stages[1](stages[0](source)))``: the stream the last stage yields."""
    stream = source
    for stage in stages:
        stream = stage(stream)
    return stream


@dataclass(frozen=True, slots=True)
class CheckedChunk:
    """A chunk with every verdict about it (failing ones decide; passing ones inform)."""

    chunk: Chunk
    verdicts: list[Verdict] = field(default_factory=list)


_END = object()


@contextlib.asynccontextmanager
async def _closing(items: AsyncIterator[Any]) -> AsyncIterator[AsyncIterator[Any]]:
    """``contextlib.aclosing`` that tolerates plain async iterators without ``aclose``."""
    try:
        yield items
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


def moderate(checker: Checker, context_chars: int) -> Stage:
    """Stage: :class:`Chunk` in, :class:`CheckedChunk` out, in order; other items pass through.

    Each chunk is checked with the ``context_chars`` characters of reply text before it, so a
    phrase split across chunks is still seen whole. Checks run while later tokens keep arriving
    (the upstream is read by a helper task), so checking adds latency once per chunk instead of
    stalling generation. A chunk cut by the size cap (mid-sentence) is yielded only together
    with the verdicts of the chunk after it and inherits that chunk's failing verdicts: a
    phrase straddling the cap cut is judged whole and neither half is shown. A chunk cut on
    time (``"time"``, always at a word boundary) is released on its own verdicts, so the first
    words show early; a phrase it splits is judged whole with the next chunk (its context) and
    held from the cut on.

    Closing this stage (a hold, a stop, a crash downstream) cancels pending checks and closes
    the upstream, down to the LLM's HTTP response.
    """

    async def stage(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        queue: asyncio.Queue[tuple[Any, asyncio.Future[list[Verdict]] | BaseException | None]] = asyncio.Queue()

        async def produce() -> None:
            tail = ""
            try:
                async with _closing(items) as upstream:
                    async for item in upstream:
                        if isinstance(item, Chunk):
                            context = tail[-context_chars:] if context_chars > 0 else ""
                            task = asyncio.ensure_future(checker.check(item.text, context=context, offset=item.start))
                            tail = (tail + item.text)[-context_chars:] if context_chars > 0 else ""
                            queue.put_nowait((item, task))
                        else:
                            queue.put_nowait((item, None))
            except Exception as exc:
                queue.put_nowait((_END, exc))
            else:
                queue.put_nowait((_END, None))

        producer = asyncio.ensure_future(produce())
        deferred: CheckedChunk | None = None
        try:
            while True:
                item, pending = await queue.get()
                if item is _END:
                    if deferred is not None:
                        yield deferred
                        deferred = None
                    if isinstance(pending, BaseException):
                        raise pending
                    return
                if not isinstance(pending, asyncio.Future):
                    if deferred is not None:
                        yield deferred
                        deferred = None
                    yield item
                    continue
                checked = CheckedChunk(item, await pending)
                if deferred is not None:
                    inherited = [v for v in checked.verdicts if not v.passed]
                    yield CheckedChunk(deferred.chunk, deferred.verdicts + inherited)
                    deferred = None
                if item.boundary == "cap":
                    deferred = checked
                else:
                    yield checked
        finally:
            producer.cancel()
            # Wait for the upstream to be closed before this stage reports itself closed.
            await asyncio.wait([producer])
            while not queue.empty():
                _, pending = queue.get_nowait()
                if isinstance(pending, asyncio.Future):
                    pending.cancel()

    return stage
