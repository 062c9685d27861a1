"""What to do with a checked chunk: release it, hold it, or stop the reply. Pure decisions.

``decide`` is a pure function of (config, state, checked chunk); ``apply`` is the stage that
threads the state through a stream. Only hold-severity failures withhold text; flag-severity
failures release it and ride along as ``flagged_by`` so the reply is queued for review.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from guardrails.checks import Verdict
from guardrails.chunking import Chunk
from guardrails.stages import CheckedChunk, Stage


class OnFail(StrEnum):
    """``GUARDRAILS_ON_FAIL``."""

    HOLD_REST = "hold_rest"  # from the first failing chunk on, nothing more is shown
    HOLD_CHUNK = "hold_chunk"  # only failing chunks (runs of them) are withheld
    STOP = "stop"  # the failing chunk is held and generation is cancelled


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    on_fail: OnFail = OnFail.HOLD_REST

    @classmethod
    def from_value(cls, on_fail: str) -> PolicyConfig:
        """Parse ``GUARDRAILS_ON_FAIL``; an unknown value is a configuration error, said plainly."""
        try:
            return cls(on_fail=OnFail(on_fail.strip().lower()))
        except ValueError:
            choices = ", ".join(m.value for m in OnFail)
            raise ValueError(f"GUARDRAILS_ON_FAIL={on_fail!r} is not one of: {choices}") from None


@dataclass(frozen=True, slots=True)
class Release:
    """Show ``chunk.text``. ``flagged_by``: flag-severity failures (non-empty → review the reply)."""

    chunk: Chunk
    flagged_by: list[Verdict] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Hold:
    """Withhold ``chunk.text`` (store it for review) as part of held segment ``segment``.

    ``segment`` is the 0-based index of the held segment in this reply; ``opens_segment`` is
    True for the segment's first chunk (show one placeholder per segment). ``reasons`` are the
    hold-severity failures of this chunk; in ``hold_rest`` a later chunk joins the open segment
    with possibly no reasons of its own. ``flagged_by`` are its flag-severity failures.
    """

    chunk: Chunk
    segment: int
    reasons: list[Verdict]
    opens_segment: bool
    flagged_by: list[Verdict] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StopGeneration:
    """``on_fail=stop``: the reply ends here; the stage closes its upstream after yielding this."""

    reasons: list[Verdict]


Decision = Release | Hold | StopGeneration


@dataclass(frozen=True, slots=True)
class PolicyState:
    """Where a reply stands: ``segment_count`` held segments opened so far, ``holding`` if the last
    chunk was held, ``stopped`` after a stop."""

    segment_count: int = 0
    holding: bool = False
    stopped: bool = False


def decide(cfg: PolicyConfig, state: PolicyState, checked: CheckedChunk) -> tuple[PolicyState, list[Decision]]:
    """The decisions for one checked chunk and the state after it. Pure."""
    reasons = [v for v in checked.verdicts if v.holds]
    flagged_by = [v for v in checked.verdicts if v.flags]
    chunk = checked.chunk
    if state.stopped:
        return state, []
    if cfg.on_fail is OnFail.HOLD_REST and state.holding:
        return state, [Hold(chunk, state.segment_count - 1, reasons, opens_segment=False, flagged_by=flagged_by)]
    if not reasons:
        return replace(state, holding=False), [Release(chunk, flagged_by)]
    if state.holding:  # hold_chunk: a run of failing chunks is one segment
        return state, [Hold(chunk, state.segment_count - 1, reasons, opens_segment=False, flagged_by=flagged_by)]
    hold = Hold(chunk, state.segment_count, reasons, opens_segment=True, flagged_by=flagged_by)
    opened = replace(state, segment_count=state.segment_count + 1, holding=True)
    if cfg.on_fail is OnFail.STOP:
        return replace(opened, stopped=True), [hold, StopGeneration(reasons)]
    return opened, [hold]


def apply(cfg: PolicyConfig) -> Stage:
    """Stage: :class:`CheckedChunk` in, :class:`Release` / :class:`Hold` /
    :class:`StopGeneration` out; other items (``Finish``) pass through. After a
    ``StopGeneration`` it stops consuming and closes its upstream (no ``Finish`` follows)."""

    async def stage(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        state = PolicyState()
        async with contextlib.aclosing(items) as upstream:  # type: ignore[type-var]  # stages are async generators
            async for item in upstream:
                if not isinstance(item, CheckedChunk):
                    yield item
                    continue
                state, decisions = decide(cfg, state, item)
                for decision in decisions:
                    yield decision
                if state.stopped:
                    return

    return stage
