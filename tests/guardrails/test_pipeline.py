from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from guardrails import chunking, policy, stages
from guardrails.checks import Verdict
from guardrails.chunking import Chunk
from guardrails.stages import CheckedChunk
from tests.guardrails.conftest import collect, released_text, run_reply, tokens


class Recorder:
    """A checker that records what it was asked and fails texts containing ``bad``. Call ``n``
    sets ``started[n]`` once recorded, then waits for ``delays[n]``."""

    def __init__(
        self,
        bad: str = "BAD",
        delays: dict[int, asyncio.Event] | None = None,
        started: dict[int, asyncio.Event] | None = None,
    ) -> None:
        self.bad = bad
        self.calls: list[tuple[str, str, int]] = []
        self.delays = delays or {}
        self.started = started or {}

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        n = len(self.calls)
        self.calls.append((text, context, offset))
        if n in self.started:
            self.started[n].set()
        if n in self.delays:
            await self.delays[n].wait()
        window = context + text
        at = window.find(self.bad)
        if at == -1 or at + len(self.bad) <= len(context):
            return []
        start = offset - len(context) + at
        return [Verdict("fake", "bad", 1.0, (start, start + len(self.bad)), passed=False)]


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
