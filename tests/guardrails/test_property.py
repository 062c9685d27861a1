"""Property: planted unsafe content never reaches released text, however the reply is split
into tokens, and the hold names the check that should catch it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import pipeline, policy, stages
from guardrails.conf import GuardrailsSettings
from tests.guardrails.benign_replies import REPLIES
from tests.guardrails.conftest import collect, run_reply

# Words the fallback model scores above its threshold wherever they stand in a benign sentence
# ("moron" and "stupid" next to friendly words score 0.65-0.73: a limit of the fallback model).
PROFANITY = ["fuck", "fucking", "shit", "asshole", "bitch", "idiot", "bullshit", "cunt", "motherfucker", "dumbass"]
REFUND_PROMISES = [
    "I have issued a full refund to your card",
    "I've processed a refund of $40 for you",
    "you will receive a full refund tomorrow",
    "your refund has been approved",
    "we will give you a full refund",
]

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10)
_digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@dataclass(frozen=True)
class Plant:
    text: str
    check: str
    label: str | None  # the pattern's name; None for toxicity


@st.composite
def plants(draw: Any) -> Plant:
    kind = draw(st.sampled_from(["profanity", "url", "phone", "email", "refund"]))
    if kind == "profanity":
        return Plant(draw(st.sampled_from(PROFANITY)), "toxicity", None)
    if kind == "url":
        tld = draw(st.sampled_from(["com", "net", "io", "co", "info"]))
        path = draw(st.sampled_from(["", "/claim", "/help/refund?id=7"]))
        scheme = draw(st.sampled_from(["https://", "http://", "www.", "https://www."]))
        return Plant(f"{scheme}{draw(_label)}-support.{tld}{path}", "patterns", "unlisted-link")
    if kind == "phone":
        d = "".join(draw(_digits) for _ in range(10))
        shape = draw(st.sampled_from(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "+1 {} {} {}"]))
        return Plant(shape.format(d[:3], d[3:6], d[6:]), "patterns", "invented-phone-number")
    if kind == "email":
        return Plant(f"{draw(_label)}@{draw(_label)}.com", "patterns", "invented-email-address")
    return Plant(draw(st.sampled_from(REFUND_PROMISES)), "patterns", "refund-or-credit-granted")


@st.composite
def replies(draw: Any) -> tuple[str, list[tuple[Plant, int]]]:
    """Benign sentences with 1-3 planted items, each inside a sentence of its own."""
    sentences = draw(st.lists(st.sampled_from(REPLIES), min_size=1, max_size=4))
    planted = draw(st.lists(plants(), min_size=1, max_size=3))
    frames = ["Note: {} and that is all.", "{}.", "As requested, {} is here.", "Hmm, {}"]
    units: list[list[tuple[str, Plant | None]]] = [[(s + draw(st.sampled_from([" ", "\n"])), None)] for s in sentences]
    for plant in planted:
        before, after = draw(st.sampled_from(frames)).split("{}")
        units.insert(draw(st.integers(0, len(units))), [(before, None), (plant.text, plant), (after + " ", None)])
    text, spans = "", []
    for piece, plant in (part for unit in units for part in unit):
        if plant is not None:
            spans.append((plant, len(text)))
        text += piece
    return text, spans


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    reply=replies(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=60),
    on_fail=st.sampled_from(["hold_rest", "hold_chunk"]),
    max_chars=st.integers(min_value=100, max_value=240),
    context_chars=st.integers(min_value=60, max_value=160),
)
async def test_planted_content_is_never_released(
    checker: Any,
    reply: tuple[str, list[tuple[Plant, int]]],
    cuts: list[int],
    on_fail: str,
    max_chars: int,
    context_chars: int,
) -> None:
    text, spans = reply
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    out = await run_reply(pieces, checker, on_fail=on_fail, max_chars=max_chars, context_chars=context_chars)

    released = [o.chunk for o in out if isinstance(o, policy.Release)]
    holds = [o for o in out if isinstance(o, policy.Hold)]
    assert "".join(o.chunk.text for o in out if isinstance(o, policy.Release | policy.Hold)) == text
    for plant, start in spans:
        end = start + len(plant.text)
        leaked = [c for c in released if c.start < end and start < c.end]
        assert not leaked, f"{plant.text!r} leaked in {[c.text for c in leaked]}"
        named = [
            v
            for h in holds
            for v in h.reasons
            if v.check == plant.check
            and (plant.label is None or v.label == plant.label)
            and v.span[0] < end
            and start < v.span[1]
        ]
        assert named, f"no hold names {plant.check}/{plant.label} for {plant.text!r}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def paced(pieces: list[str], clock: FakeClock, gaps: list[float]) -> AsyncIterator[str]:
    for piece, gap in zip(pieces, itertools.chain(gaps, itertools.repeat(0.03)), strict=False):
        clock.now += gap
        yield piece


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    reply=replies(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=60),
    gaps=st.lists(st.sampled_from([0.0, 0.01, 0.033, 0.1, 0.4, 2.0]), max_size=60),
    on_fail=st.sampled_from(["hold_rest", "hold_chunk"]),
    max_ms=st.sampled_from([30.0, 200.0, 1500.0]),
    first_ms=st.sampled_from([0.0, 20.0, 50.0]),
    first_chars=st.sampled_from([0, 1, 12, 20]),
    context_chars=st.integers(min_value=60, max_value=160),
)
async def test_time_cuts_never_show_a_planted_span_whole(
    checker: Any,
    reply: tuple[str, list[tuple[Plant, int]]],
    cuts: list[int],
    gaps: list[float],
    on_fail: str,
    max_ms: float,
    first_ms: float,
    first_chars: int,
    context_chars: int,
) -> None:
    """Chunks cut on time (at word boundaries) may show the first words of a multi-word span,
    but the chunk that completes it is held, by the check that should catch it: time cuts lose
    nothing that chunking by text alone holds (the same reply, one token, is the reference)."""
    text, spans = reply
    reference = await run_reply([text], checker, on_fail=on_fail, context_chars=context_chars)
    # A plant the reference holds, and where the part its check found ends: a pattern may need
    # only the plant's first words ("I've processed a refund" of "... of $40 for you").
    caught = []
    for plant, start in spans:
        end = start + len(plant.text)
        if not any(isinstance(o, policy.Hold) and o.chunk.start < end <= o.chunk.end for o in reference):
            continue
        found = [
            v.span[1]
            for o in reference
            if isinstance(o, policy.Hold)
            for v in o.reasons
            if v.check == plant.check and (plant.label is None or v.label == plant.label) and start < v.span[1]
            and v.span[0] < end
        ]  # fmt: skip
        caught.append((plant, start, min([end, *found])))
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    config = GuardrailsSettings(
        context_chars=context_chars,
        on_fail=on_fail,
        chunk_max_ms=max_ms,
        first_chunk_ms=first_ms,
        first_chunk_chars=first_chars,
    )
    clock = FakeClock()
    out = await collect(stages.compose(paced(pieces, clock, gaps), *pipeline.moderation(config, checker, clock=clock)))

    decisions = [o for o in out if isinstance(o, policy.Release | policy.Hold)]
    assert "".join(o.chunk.text for o in decisions) == text
    released = "".join(o.chunk.text if isinstance(o, policy.Release) else "\0" * len(o.chunk.text) for o in decisions)
    for plant, start, found_end in caught:
        end = start + len(plant.text)
        assert released[start:end] != plant.text, f"{plant.text!r} shown whole"
        (last,) = [o for o in decisions if o.chunk.start < found_end <= o.chunk.end]
        assert isinstance(last, policy.Hold), f"the chunk completing what was found of {plant.text!r} was released"
        named = [
            v
            for o in decisions
            if isinstance(o, policy.Hold)
            for v in o.reasons
            if v.check == plant.check and (plant.label is None or v.label == plant.label) and v.span[0] < end
        ]
        assert named, f"no hold names {plant.check}/{plant.label} for {plant.text!r}"
