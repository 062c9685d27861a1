from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

from guardrails import chunking, policy, stages
from guardrails.checks import Severity, Verdict
from guardrails.chunking import Chunk
from guardrails.stages import CheckedChunk
from tests.guardrails.conftest import collect, released_text, run_reply, tokens


class Recorder:
    """A checker that records what it was asked and fails texts containing ``bad`` (with
    ``bad_severity``). Call ``n`` sets ``started[n]`` once recorded, then waits for
    ``delays[n]`` (and sets ``cancelled[n]`` if it is cancelled meanwhile)."""

    def __init__(
        self,
        bad: str = "BAD",
        bad_severity: Severity = "hold",
        delays: dict[int, asyncio.Event] | None = None,
        started: dict[int, asyncio.Event] | None = None,
        cancelled: dict[int, asyncio.Event] | None = None,
    ) -> None:
        self.bad = bad
        self.bad_severity: Severity = bad_severity
        self.calls: list[tuple[str, str, int]] = []
        self.delays = delays or {}
        self.started = started or {}
        self.cancelled = cancelled or {}

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        n = len(self.calls)
        self.calls.append((text, context, offset))
        if n in self.started:
            self.started[n].set()
        if n in self.delays:
            try:
                await self.delays[n].wait()
            except asyncio.CancelledError:
                if n in self.cancelled:
                    self.cancelled[n].set()
                raise
        window = context + text
        at = window.find(self.bad)
        if at == -1 or at + len(self.bad) <= len(context):
            return []
        start = offset - len(context) + at
        span = (start, start + len(self.bad))
        return [Verdict("fake", "bad", 1.0, span, passed=False, severity=self.bad_severity)]


class OutOfContext(Recorder):
    """A :class:`Recorder` that also fails a text ending in ``words`` (a few words judged out of
    their sentence, like a model scoring "This vacuum sucks " alone) and passes them when more
    text follows. ``severity``: of that failure."""

    def __init__(self, words: str = "sucks ", *, severity: Severity = "hold", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.words = words
        self.severity: Severity = severity

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        verdicts = await super().check(text, context=context, offset=offset)
        if text.endswith(self.words):
            span = (offset, offset + len(text))
            verdicts.append(Verdict("fake", "out-of-context", 0.9, span, passed=False, severity=self.severity))
        return verdicts


def chunk(index: int, text: str, start: int, boundary: chunking.Boundary = "sentence") -> Chunk:
    return Chunk(index, text, start, boundary)


async def test_compose_applies_stages_in_order() -> None:
    def add(suffix: str) -> stages.Stage:
        async def stage(items: AsyncIterator[str]) -> AsyncIterator[str]:
            async for item in items:
                yield item + suffix

        return stage

    assert await collect(stages.compose(tokens(["x"]), add("1"), add("2"))) == ["x12"]


async def test_each_check_sees_the_preceding_text_as_context() -> None:
    checker = Recorder()
    chunks = [chunk(0, "One. ", 0), chunk(1, "Two. ", 5), chunk(2, "Three.", 10)]
    await collect(stages.moderate(checker, context_chars=7)(tokens(chunks)))
    assert checker.calls == [("One. ", "", 0), ("Two. ", "One. ", 5), ("Three.", ". Two. ", 10)]


async def test_results_keep_stream_order_when_checks_finish_out_of_order() -> None:
    first_may_finish, second_started = asyncio.Event(), asyncio.Event()
    checker = Recorder(delays={0: first_may_finish}, started={1: second_started})
    chunks = [chunk(0, "A. ", 0), chunk(1, "B. ", 3), "FINISH"]
    stream = stages.moderate(checker, context_chars=10)(tokens(chunks))
    got = asyncio.ensure_future(collect(stream))
    # The second chunk's check starts (and ends) while the first is still pending.
    await asyncio.wait_for(second_started.wait(), 5)
    first_may_finish.set()
    out = await asyncio.wait_for(got, 5)
    assert [o.chunk.text if isinstance(o, CheckedChunk) else o for o in out] == ["A. ", "B. ", "FINISH"]


async def test_a_capped_chunk_inherits_the_failure_of_the_chunk_after_it() -> None:
    checker = Recorder(bad="BAD WORD")
    chunks = [chunk(0, "xx BAD ", 0, "cap"), chunk(1, "WORD yy. ", 7), chunk(2, "fine. ", 16)]
    out = await collect(stages.moderate(checker, context_chars=50)(tokens(chunks)))
    assert [bool(c.verdicts) for c in out] == [True, True, False]
    assert out[0].verdicts[0].span == (3, 11)


def holds(item: CheckedChunk) -> list[str]:
    return [v.label for v in item.verdicts if v.holds]


async def test_a_time_cut_chunk_holding_alone_is_released_when_it_passes_with_the_next_chunk() -> None:
    checker = OutOfContext()
    chunks = [chunk(0, "This vacuum sucks ", 0, "time"), chunk(1, "at picking up hair. ", 18), "FINISH"]
    out = await collect(stages.moderate(checker, context_chars=50)(tokens(chunks)))
    assert [o.chunk.text if isinstance(o, CheckedChunk) else o for o in out] == [
        "This vacuum sucks ",
        "at picking up hair. ",
        "FINISH",
    ]
    assert [holds(o) for o in out[:2]] == [[], []]
    # Judged again as one text with the next chunk, with the context and start of the first.
    assert ("This vacuum sucks at picking up hair. ", "", 0) in checker.calls
    assert len(checker.calls) == 3


async def test_a_streamed_first_chunk_that_looks_bad_alone_is_shown() -> None:
    text = "This vacuum sucks at picking up hair. It is loud too. "
    stream = stages.compose(
        tokens([word + " " for word in text.split()]),
        chunking.sentences(max_chars=200, first_chars=14),
        stages.moderate(OutOfContext(), context_chars=50),
        policy.apply(policy.PolicyConfig()),
    )
    out = await collect(stream)
    assert [(type(o).__name__, o.chunk.text, o.chunk.boundary) for o in out] == [
        ("Release", "This vacuum sucks ", "time"),
        ("Release", "at picking up hair. ", "sentence"),
        ("Release", "It is loud too. ", "sentence"),
    ]


async def test_a_time_cut_chunk_still_failing_with_the_next_chunk_is_held_with_both_verdicts() -> None:
    checker = OutOfContext()
    chunks = [chunk(0, "This vacuum sucks ", 0, "time"), chunk(1, "BAD. ", 18), chunk(2, "Fine. ", 23)]
    out = await collect(stages.moderate(checker, context_chars=50)(tokens(chunks)))
    assert [holds(o) for o in out] == [["out-of-context", "bad"], ["bad"], []]
    assert out[0].verdicts[1].span == (18, 21)
    decisions = await collect(policy.apply(policy.PolicyConfig(policy.OnFail.HOLD_CHUNK))(tokens(out)))
    assert [type(d).__name__ for d in decisions] == ["Hold", "Hold", "Release"]


async def test_a_whole_unsafe_phrase_in_a_time_cut_chunk_stays_held() -> None:
    checker = Recorder(bad="BAD WORD")
    chunks = [chunk(0, "You BAD WORD ", 0, "time"), chunk(1, "friend. ", 13)]
    out = await collect(stages.moderate(checker, context_chars=50)(tokens(chunks)))
    assert [holds(o) for o in out] == [["bad", "bad"], []]
    assert {v.span for v in out[0].verdicts} == {(4, 12)}


async def test_each_time_cut_chunk_is_judged_again_at_most_once() -> None:
    checker = OutOfContext()
    chunks = [chunk(0, "Vacuum sucks ", 0, "time"), chunk(1, "Mine sucks ", 13, "time"), chunk(2, "less. ", 24)]
    out = await collect(stages.moderate(checker, context_chars=50)(tokens(chunks)))
    # "Vacuum sucks Mine sucks " still ends badly: held; "Mine sucks less. " passes: released.
    assert [holds(o) for o in out] == [["out-of-context", "out-of-context"], [], []]
    assert sorted(text for text, _, _ in checker.calls) == [
        "Mine sucks ",
        "Mine sucks less. ",
        "Vacuum sucks ",
        "Vacuum sucks Mine sucks ",
        "less. ",
    ]


@pytest.mark.parametrize("after", [[], ["FINISH"]])
async def test_a_time_cut_chunk_holding_alone_with_no_next_chunk_is_held(after: list[str]) -> None:
    checker = OutOfContext()
    out = await collect(stages.moderate(checker, context_chars=50)(tokens([chunk(0, "It sucks ", 0, "time"), *after])))
    assert [holds(out[0]), *out[1:]] == [["out-of-context"], *after]
    assert len(checker.calls) == 1


async def test_a_passing_time_cut_chunk_does_not_wait_for_the_next_chunk() -> None:
    next_may_finish = asyncio.Event()
    checker = OutOfContext(delays={1: next_may_finish})
    chunks = [chunk(0, "This vacuum ", 0, "time"), chunk(1, "is great. ", 12)]
    stream = stages.moderate(checker, context_chars=50)(tokens(chunks))
    first = await asyncio.wait_for(anext(stream), 5)
    assert first.chunk.text == "This vacuum " and not first.verdicts
    next_may_finish.set()
    assert [o.chunk.text for o in await collect(stream)] == ["is great. "]


async def test_a_flagged_time_cut_chunk_is_not_deferred() -> None:
    next_may_finish = asyncio.Event()
    checker = OutOfContext(severity="flag", delays={1: next_may_finish})
    chunks = [chunk(0, "This vacuum sucks ", 0, "time"), chunk(1, "at hair. ", 18)]
    stream = stages.moderate(checker, context_chars=50)(tokens(chunks))
    first = await asyncio.wait_for(anext(stream), 5)
    assert [v.label for v in first.verdicts if v.flags] == ["out-of-context"]
    next_may_finish.set()
    await collect(stream)
    assert len(checker.calls) == 2


async def test_a_time_cut_chunk_released_with_the_next_chunk_leaves_the_next_chunk_its_flags() -> None:
    checker = OutOfContext(bad="MEH", bad_severity="flag")
    chunks = [chunk(0, "This vacuum sucks ", 0, "time"), chunk(1, "at MEH. ", 18)]
    out = await collect(stages.moderate(checker, context_chars=50)(tokens(chunks)))
    assert [[v.label for v in o.verdicts if not v.passed] for o in out] == [[], ["bad"]]


async def test_a_capped_chunk_inherits_the_verdicts_of_a_time_cut_chunk_judged_again() -> None:
    chunks = [chunk(0, "xx ", 0, "cap"), chunk(1, "This vacuum sucks ", 3, "time"), chunk(2, "at hair. ", 21)]
    out = await collect(stages.moderate(OutOfContext(), context_chars=50)(tokens(chunks)))
    assert [(o.chunk.index, holds(o)) for o in out] == [(0, []), (1, []), (2, [])]
    chunks = [chunk(0, "xx ", 0, "cap"), chunk(1, "This vacuum sucks ", 3, "time"), chunk(2, "BAD. ", 21)]
    out = await collect(stages.moderate(OutOfContext(), context_chars=50)(tokens(chunks)))
    assert [(o.chunk.index, holds(o)) for o in out] == [
        (0, ["out-of-context", "bad"]),
        (1, ["out-of-context", "bad"]),
        (2, ["bad"]),
    ]


async def test_cancelling_the_reply_cancels_a_pending_joint_check() -> None:
    # Calls: 0 the first chunk's, 1 the second's, 2 both as one text (the joint check).
    never = {1: asyncio.Event(), 2: asyncio.Event()}
    started, cancelled = {2: asyncio.Event()}, {1: asyncio.Event(), 2: asyncio.Event()}
    checker = OutOfContext(delays=never, started=started, cancelled=cancelled)
    chunks = [chunk(0, "This vacuum sucks ", 0, "time"), chunk(1, "at hair. ", 18)]
    reading = asyncio.ensure_future(anext(stages.moderate(checker, context_chars=50)(tokens(chunks))))
    await asyncio.wait_for(started[2].wait(), 5)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    await asyncio.wait_for(asyncio.gather(cancelled[1].wait(), cancelled[2].wait()), 5)


async def test_an_upstream_error_arrives_after_the_items_before_it() -> None:
    async def broken() -> AsyncIterator[object]:
        yield chunk(0, "Fine. ", 0)
        raise RuntimeError("backend died")

    stream = stages.moderate(Recorder(), context_chars=10)(broken())
    first = await anext(stream)
    assert first.chunk.text == "Fine. "
    with pytest.raises(RuntimeError, match="backend died"):
        await anext(stream)


async def test_closing_the_stage_closes_the_upstream() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[Chunk]:
        try:
            n = 0
            while True:
                yield chunk(n, "Hi. ", n * 4)
                n += 1
                await asyncio.sleep(0)  # wait-ok: yields to the loop once, waits for nothing
        finally:
            closed.set()

    stream = stages.moderate(Recorder(), context_chars=10)(endless())
    assert isinstance(stream, AsyncGenerator)  # a Stage promises an AsyncIterator; aclose is under test
    await anext(stream)
    await stream.aclose()
    assert closed.is_set()


async def test_stop_policy_closes_everything_upstream() -> None:
    closed = asyncio.Event()

    async def llm() -> AsyncIterator[str]:
        try:
            yield "Fine. "
            yield "BAD. "
            while True:
                yield "more "
                await asyncio.sleep(0)  # wait-ok: yields to the loop once, waits for nothing
        finally:
            closed.set()

    stream = stages.compose(
        llm(),
        chunking.sentences(max_chars=50),
        stages.moderate(Recorder(), context_chars=20),
        policy.apply(policy.PolicyConfig(policy.OnFail.STOP)),
    )
    out = await asyncio.wait_for(collect(stream), 5)
    assert [type(o).__name__ for o in out] == ["Release", "Hold", "StopGeneration"]
    assert closed.is_set()


async def test_a_phone_number_split_across_chunks_is_caught(checker: object) -> None:
    # The cap cuts "555 123 4567" between "123" and "4567"; the number is judged whole.
    text = "please note that the number you asked for is 555 123 4567 and it works around the clock"
    out = await run_reply([text[i : i + 3] for i in range(0, len(text), 3)], checker, max_chars=56)
    holds = [o for o in out if isinstance(o, policy.Hold)]
    assert holds and holds[0].reasons[0].label == "invented-phone-number"
    assert "555" not in released_text(out)


async def test_an_insult_split_across_chunks_is_caught(checker: object) -> None:
    text = "I have read your message and honestly you are a complete fucking idiot for asking that"
    cut = text.index("fucking") + 3
    out = await run_reply([text[:cut], text[cut:]], checker, max_chars=60)
    holds = [o for o in out if isinstance(o, policy.Hold)]
    assert holds and holds[0].reasons[0].check == "toxicity"
    assert "fuck" not in released_text(out)


async def test_a_refund_promise_across_a_sentence_boundary_context_is_seen(checker: object) -> None:
    out = await run_reply(["Good news.\nI have issued ", "a full refund to your card."], checker)
    assert [type(o).__name__ for o in out] == ["Release", "Hold"]
    assert out[1].reasons[0].label == "refund-or-credit-granted"
