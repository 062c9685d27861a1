from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.chunking import Chunk, sentences, split_point
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
