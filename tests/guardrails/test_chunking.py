from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.chunking import Chunk, sentences, split_point, word_cut
from tests.guardrails.conftest import collect, tokens


@dataclass(frozen=True)
class Tok:
    text: str
    special: bool = False


@dataclass(frozen=True)
class Finish:
    reason: str = "stop"


async def chunk_stream(pieces: Sequence[object], max_chars: int = 200) -> list[object]:
    return await collect(sentences(max_chars)(tokens(pieces)))


async def chunk_texts(pieces: Sequence[object], max_chars: int = 200) -> list[Chunk]:
    """The chunks of a stream that holds nothing else."""
    out = await chunk_stream(pieces, max_chars)
    chunks = [c for c in out if isinstance(c, Chunk)]
    assert chunks == out
    return chunks


async def test_sentence_ends_and_newlines_close_chunks() -> None:
    out = await chunk_texts([Tok("Hello "), Tok("there. How"), Tok(" are you?\nFine"), Tok("!")])
    assert [(c.index, c.text, c.start, c.boundary) for c in out] == [
        (0, "Hello there. ", 0, "sentence"),
        (1, "How are you?\n", 13, "newline"),
        (2, "Fine!", 26, "end"),
    ]


async def test_punctuation_inside_words_and_numbers_does_not_split() -> None:
    out = await chunk_texts(["It costs $3.50 at example.com/shop, see v1.2 docs. Done"])
    assert [c.text for c in out] == ["It costs $3.50 at example.com/shop, see v1.2 docs. ", "Done"]


async def test_cap_bounds_text_without_punctuation_and_keeps_words_whole() -> None:
    text = " ".join(["word"] * 40)
    out = await chunk_texts([text], max_chars=30)
    assert "".join(c.text for c in out) == text
    assert all(len(c.text) <= 30 for c in out)
    assert all(c.text.endswith(" ") for c in out[:-1])
    assert {c.boundary for c in out[:-1]} == {"cap"}


async def test_a_word_longer_than_half_the_cap_is_cut_hard() -> None:
    out = await chunk_texts(["x" * 25], max_chars=10)
    assert [c.text for c in out] == ["x" * 10, "x" * 10, "x" * 5]


async def test_finish_passes_through_after_the_pending_text_is_flushed() -> None:
    finish = Finish()
    out = await chunk_stream([Tok("No full stop"), Tok("<eos>", special=True), finish])
    assert out == [Chunk(0, "No full stop", 0, "end"), finish]


async def test_special_tokens_add_no_text() -> None:
    out = await chunk_texts([Tok("<|im_start|>", special=True), Tok("Hi. "), Tok("</s>", special=True)])
    assert [c.text for c in out] == ["Hi. "]


def test_split_point_waits_for_the_character_after_a_full_stop() -> None:
    assert split_point("Hello.", 200, final=False) is None
    assert split_point("Hello. W", 200, final=False) == (7, "sentence")
    assert split_point("Hello.", 200, final=True) == (6, "end")


def test_max_chars_must_allow_a_chunk() -> None:
    with pytest.raises(ValueError):
        sentences(1)


_text = st.lists(
    st.sampled_from(["Hello", "world", "3.5", "e.g.", "end.", "ok!", "why?", "\n", "a", "long-word", "(x)"]),
    max_size=60,
).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(text=_text, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30), max_chars=st.integers(4, 80))
async def test_chunks_depend_on_the_text_only_not_on_token_splits(text: str, cuts: list[int], max_chars: int) -> None:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    split = await chunk_texts(pieces, max_chars)
    whole = await chunk_texts([text], max_chars)
    assert split == whole
    assert "".join(c.text for c in split) == text
    for chunk in split:
        assert text[chunk.start : chunk.end] == chunk.text
        assert 0 < len(chunk.text) <= max_chars


_end_heavy = st.text(alphabet=st.sampled_from(list("ab Z.!?\u2026\"'\u201d\u2019)]\r\n\t*-_x")), max_size=60)


@settings(max_examples=500, deadline=None)
@given(text=_end_heavy, more=_end_heavy, max_chars=st.integers(4, 80), final=st.booleans())
def test_a_search_resumed_where_the_last_one_found_nothing_finds_the_same_end(
    text: str, more: str, max_chars: int, final: bool
) -> None:
    # The chunker tells split_point how much of its buffer held no sentence end last time, so a
    # token costs a search of its own text; the cut must be the one a search from 0 finds.
    if len(text) > max_chars or split_point(text, max_chars, final=False) is not None:
        return  # the chunker would have cut: nothing carries over
    buffer = text + more
    assert split_point(buffer, max_chars, final=final, searched=len(text)) == split_point(
        buffer, max_chars, final=final
    )


# --- Time cuts --------------------------------------------------------------------------------


class FakeClock:
    """Seconds that advance only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def paced(pieces: list[str], clock: FakeClock, gaps: list[float]) -> AsyncIterator[str]:
    """``pieces`` as tokens, the clock moved forward by ``gaps[i]`` seconds before piece ``i``."""
    for piece, gap in zip(pieces, itertools.chain(gaps, itertools.repeat(0.0)), strict=False):
        clock.now += gap
        yield piece


async def timed_chunks(pieces: list[str], gaps: list[float], **kwargs: Any) -> list[Chunk]:
    clock = FakeClock()
    stage = sentences(kwargs.pop("max_chars", 200), clock=clock, **kwargs)
    return await collect(stage(paced(pieces, clock, gaps)))


async def test_the_first_chunk_closes_on_time_at_a_word_boundary() -> None:
    pieces = ["Hello", " there", " my", " friend", ". All", " good."]
    out = await timed_chunks(pieces, [0.033] * len(pieces), first_ms=50)
    assert [(c.text, c.boundary) for c in out] == [
        ("Hello there ", "time"),  # the third token came 66 ms after the first: cut before "my"
        ("my friend. ", "sentence"),
        ("All good.", "end"),
    ]


async def test_the_first_chunk_closes_on_length_and_later_chunks_on_max_ms() -> None:
    pieces = ["Twenty", " chars", " or", " so", " and", " then", " a", " long", " run", " on"]
    out = await timed_chunks(pieces, [0.1] * len(pieces), first_chars=14, max_ms=250)
    assert [(c.text, c.boundary) for c in out] == [
        ("Twenty chars ", "time"),
        ("or so and ", "time"),  # "or" waited from 0.3 s; at 0.6 s ("then") it is due
        ("then a long ", "time"),
        ("run on", "end"),
    ]


async def test_a_word_being_written_is_never_cut_however_late() -> None:
    out = await timed_chunks(["Supercali", "fragilistic", "expiali", "docious"], [1.0] * 4, first_ms=10, max_ms=10)
    assert [(c.text, c.boundary) for c in out] == [("Supercalifragilisticexpialidocious", "end")]


def test_word_cut_ends_after_whitespace_with_a_word_before_it() -> None:
    assert word_cut("Hello wor") == 6
    assert word_cut("Hello world ") == 12
    assert word_cut("Hello") == 0
    assert word_cut("   ") == 0
    assert word_cut(" Hi") == 0


def inside_word(text: str, pos: int) -> bool:
    return 0 < pos < len(text) and not text[pos - 1].isspace() and not text[pos].isspace()


@settings(max_examples=300, deadline=None)
@given(
    text=_text,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30),
    gaps=st.lists(st.sampled_from([0.0, 0.01, 0.033, 0.1, 0.5, 2.0]), max_size=40),
    max_chars=st.integers(4, 80),
    max_ms=st.sampled_from([0.0, 30.0, 200.0, 1500.0]),
    first_ms=st.sampled_from([0.0, 20.0, 50.0, 300.0]),
    first_chars=st.sampled_from([0, 1, 12, 40]),
)
async def test_time_cuts_keep_the_text_whole_and_never_cut_inside_a_word(
    text: str,
    cuts: list[int],
    gaps: list[float],
    max_chars: int,
    max_ms: float,
    first_ms: float,
    first_chars: int,
) -> None:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    out = await timed_chunks(
        pieces, gaps, max_chars=max_chars, max_ms=max_ms, first_ms=first_ms, first_chars=first_chars
    )
    assert "".join(c.text for c in out) == text
    assert [c.index for c in out] == list(range(len(out)))
    for chunk in out:
        assert text[chunk.start : chunk.end] == chunk.text
        assert 0 < len(chunk.text) <= max_chars
        if chunk.boundary == "cap":  # only a run of non-space longer than half the cap is cut hard
            assert not inside_word(text, chunk.end) or not any(ch.isspace() for ch in chunk.text[max_chars // 2 :])
        else:
            assert not inside_word(text, chunk.end), (chunk, text)
        if chunk.boundary == "time":
            assert chunk.text[-1].isspace() and chunk.text.strip()
