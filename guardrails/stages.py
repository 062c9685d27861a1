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


@dataclass(frozen=True, slots=True)
class _Queued:
    """An item read from upstream; for a chunk, its pending check and the context it got."""

    item: Any
    pending: asyncio.Future[list[Verdict]] | BaseException | None = None
    context: str = ""


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
    stalling generation.

    A chunk cut by the size cap (mid-sentence) is yielded only together with the final verdicts
    of the chunk after it and inherits that chunk's failing verdicts: a phrase straddling the
    cap cut is judged whole and neither half is shown.

    A chunk cut on time (``"time"``, always at a word boundary) that passes is released on its
    own verdicts, so the first words show early. One that *holds* on its own is not decided
    alone: a few words out of their sentence ("This vacuum sucks ") can look bad. It waits for
    the next chunk and is checked once more as one text with it (same context, same start),
    alongside that chunk's own check. If that joint check holds nothing, the chunk is released
    and carries the joint verdicts instead of its own (less flags starting after it: the next
    chunk reports those); otherwise it keeps its own verdicts plus the joint failing ones and
    is held. Either way the next chunk is then decided on its own
    verdicts (a time chunk holding alone is deferred in turn: at most one joint check per
    chunk). With no next chunk (the stream ends, or another item such as ``Finish`` comes
    first) it is decided on its own verdicts. Only hold-severity failures defer: flagged text
    is shown anyway, so it is not delayed. A span lying wholly in the deferred chunk lies in
    the joint text (not its context), so the joint check reports it again and the chunk stays
    held; a phrase it splits is judged whole with the next chunk (its context) and held from
    the cut on.

    Closing this stage (a hold, a stop, a crash downstream) cancels pending checks and closes
    the upstream, down to the LLM's HTTP response.
    """

    async def stage(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        queue: asyncio.Queue[_Queued] = asyncio.Queue()

        async def produce() -> None:
            tail = ""
            try:
                async with _closing(items) as upstream:
                    async for item in upstream:
                        if isinstance(item, Chunk):
                            context = tail[-context_chars:] if context_chars > 0 else ""
                            task = asyncio.ensure_future(checker.check(item.text, context=context, offset=item.start))
                            tail = (tail + item.text)[-context_chars:] if context_chars > 0 else ""
                            queue.put_nowait(_Queued(item, task, context))
                        else:
                            queue.put_nowait(_Queued(item))
            except Exception as exc:
                queue.put_nowait(_Queued(_END, exc))
            else:
                queue.put_nowait(_Queued(_END))

        producer = asyncio.ensure_future(produce())
        capped: CheckedChunk | None = None  # a "cap" chunk waiting for the next chunk's verdicts
        # A "time" chunk holding on its own verdicts, waiting for the next chunk; and its context.
        suspect: tuple[CheckedChunk, str] | None = None
        joint: asyncio.Future[list[Verdict]] | None = None

        def settle(checked: CheckedChunk) -> list[CheckedChunk]:
            """``checked`` has its final verdicts: what can be yielded now, in order."""
            nonlocal capped
            out = []
            if capped is not None:
                inherited = [v for v in checked.verdicts if not v.passed]
                out.append(CheckedChunk(capped.chunk, capped.verdicts + inherited))
                capped = None
            if checked.chunk.boundary == "cap":
                capped = checked
            else:
                out.append(checked)
            return out

        def flush() -> list[CheckedChunk]:
            """No chunk follows: the waiting chunks are decided on their own verdicts."""
            nonlocal capped, suspect
            out = []
            if suspect is not None:
                out += settle(suspect[0])
                suspect = None
            if capped is not None:
                out.append(capped)
                capped = None
            return out

        try:
            while True:
                queued = await queue.get()
                item, pending = queued.item, queued.pending
                if item is _END:
                    for checked in flush():
                        yield checked
                    if isinstance(pending, BaseException):
                        raise pending
                    return
                if not isinstance(pending, asyncio.Future):
                    for checked in flush():
                        yield checked
                    yield item
                    continue
                ready: list[CheckedChunk] = []
                if suspect is None:
                    verdicts = await pending
                else:
                    alone, context = suspect
                    suspect = None
                    # Checked together with this chunk's own check, which started when it arrived.
                    joint = asyncio.ensure_future(
                        checker.check(alone.chunk.text + item.text, context=context, offset=alone.chunk.start)
                    )
                    verdicts = await pending
                    together = await joint
                    joint = None
                    if any(v.holds for v in together):  # held, with both judgements as reasons
                        decided = CheckedChunk(alone.chunk, alone.verdicts + [v for v in together if not v.passed])
                    else:  # innocent in its sentence: the joint judgement replaces its own
                        # (findings starting after it are this chunk's own, reported with it).
                        mine = [v for v in together if v.passed or v.span[0] < alone.chunk.end]
                        decided = CheckedChunk(alone.chunk, mine)
                    ready += settle(decided)
                checked = CheckedChunk(item, verdicts)
                if item.boundary == "time" and any(v.holds for v in verdicts):
                    suspect = (checked, queued.context)
                else:
                    ready += settle(checked)
                for out in ready:
                    yield out
        finally:
            producer.cancel()
            # Wait for the upstream to be closed before this stage reports itself closed.
            await asyncio.wait([producer])
            if joint is not None:
                joint.cancel()
            while not queue.empty():
                pending = queue.get_nowait().pending
                if isinstance(pending, asyncio.Future):
                    pending.cancel()

    return stage
