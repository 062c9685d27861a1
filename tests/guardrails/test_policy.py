from __future__ import annotations

import pytest

from guardrails.checks import Verdict
from guardrails.chunking import Chunk
from guardrails.policy import Hold, OnFail, PolicyConfig, PolicyState, Release, StopGeneration, decide
from guardrails.stages import CheckedChunk

HOLD = Verdict("patterns", "x", 1.0, (0, 1), passed=False, severity="hold")
FLAG = Verdict("patterns", "y", 1.0, (0, 1), passed=False, severity="flag")
OPEN_ERROR = Verdict("toxicity", "error", 0.0, (0, 1), passed=True)


def run(on_fail: OnFail, verdict_lists: list[list[Verdict]]) -> list[object]:
    cfg, state = PolicyConfig(on_fail), PolicyState()
    out: list[object] = []
    for n, verdicts in enumerate(verdict_lists):
        state, decisions = decide(cfg, state, CheckedChunk(Chunk(n, f"c{n} ", n * 3), verdicts))
        out += decisions
    return out


def shape(decisions: list[object]) -> list[tuple[object, ...]]:
    def one(d: object) -> tuple[object, ...]:
        if isinstance(d, Release):
            return ("release", d.chunk.index, len(d.flagged_by))
        if isinstance(d, Hold):
            return ("hold", d.chunk.index, d.segment, d.opens_segment, len(d.reasons))
        assert isinstance(d, StopGeneration)
        return ("stop", len(d.reasons))

    return [one(d) for d in decisions]


def test_hold_rest_holds_everything_from_the_first_failure() -> None:
    out = run(OnFail.HOLD_REST, [[], [HOLD], [], [HOLD], []])
    assert shape(out) == [
        ("release", 0, 0),
        ("hold", 1, 0, True, 1),
        ("hold", 2, 0, False, 0),
        ("hold", 3, 0, False, 1),
        ("hold", 4, 0, False, 0),
    ]


def test_hold_chunk_withholds_runs_of_failing_chunks_as_segments() -> None:
    out = run(OnFail.HOLD_CHUNK, [[HOLD], [HOLD], [], [HOLD], []])
    assert shape(out) == [
        ("hold", 0, 0, True, 1),
        ("hold", 1, 0, False, 1),
        ("release", 2, 0),
        ("hold", 3, 1, True, 1),
        ("release", 4, 0),
    ]


def test_stop_holds_the_failing_chunk_then_stops() -> None:
    out = run(OnFail.STOP, [[], [HOLD], []])
    assert shape(out) == [("release", 0, 0), ("hold", 1, 0, True, 1), ("stop", 1)]


def test_flags_release_the_text_and_ride_along() -> None:
    out = run(OnFail.HOLD_REST, [[FLAG, OPEN_ERROR], [HOLD, FLAG]])
    assert isinstance(out[0], Release) and out[0].flagged_by == [FLAG]
    assert isinstance(out[1], Hold) and out[1].reasons == [HOLD] and out[1].flagged_by == [FLAG]


def test_passing_verdicts_never_hold() -> None:
    assert shape(run(OnFail.HOLD_REST, [[OPEN_ERROR]])) == [("release", 0, 0)]


def test_on_fail_is_parsed_and_explained() -> None:
    assert PolicyConfig.from_value(" Hold_Chunk ").on_fail is OnFail.HOLD_CHUNK
    with pytest.raises(ValueError, match="hold_rest, hold_chunk, stop"):
        PolicyConfig.from_value("drop")
