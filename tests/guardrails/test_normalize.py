"""Normalization: disguises undone, and every normalized span maps back inside the original
and over the whole disguised word (the invariant in guardrails/normalize.py)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.checks.detectors import DetectorConfig
from guardrails.checks.patterns import PatternsChecker
from guardrails.normalize import normalize
from tests.guardrails.conftest import DETECTORS
from tests.guardrails.data import make_sets

WORDS = ["fuck", "shit", "bitch", "asshole", "bastard", "cunt"]
DISGUISES = list(make_sets.FAMILIES.values())


@pytest.mark.parametrize(
    ("shown", "read"),
    [
        ("\uff46\uff55\uff43\uff4b", "fuck"),
        ("fu\u0441k", "fuck"),
        ("\u0455\u04bbi\u03c4", "shit"),
        ("f\u200bu\u200dc\u00adk", "fuck"),
        ("f u c k", "fuck"),
        ("f.u.c.k", "fuck"),
        ("sh1t", "shit"),
        ("@ss", "ass"),
        ("fuuuuck", "fuck"),
        ("\U0001d41f\U0001d42e\U0001d41c\U0001d424", "fuck"),
    ],
)
def test_disguises_are_undone(shown: str, read: str) -> None:
    view = normalize(f"what a {shown} day")
    assert read in view.text
    start = view.text.index(read)
    assert view.span(start, start + len(read)) == (7, 7 + len(shown))


@pytest.mark.parametrize(
    "text",
    [
        "Order x200 ships on the 4th at 10am; use SPRING20 for $15 off.",
        "Tracking 1Z999AA10123456784, invoice INV-2024-00931.",
        "e.g. the U.S. store",
        "Thanks! See you soon.",
        "Please assess the parcel.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert normalize(text).text == text


def _squeeze(text: str) -> str:
    return "".join(ch for n, ch in enumerate(text) if n == 0 or text[n - 1] != ch)


_frame = st.sampled_from(["", "Hi. ", "Your order shipped today, ", "Note: "])
_tail = st.sampled_from(["", " and thanks.", ". Have a nice day!", " 2024"])


@settings(max_examples=300, deadline=None)
@given(
    before=_frame,
    after=_tail,
    word=st.sampled_from(WORDS),
    disguise=st.sampled_from(DISGUISES),
    seed=st.integers(0, 10_000),
    level=st.sampled_from(["full", "alt"]),
)
def test_mapped_spans_lie_in_the_original_and_cover_the_disguised_word(
    before: str, after: str, word: str, disguise: Any, seed: int, level: Any
) -> None:
    make_sets.rng.seed(seed)
    shown = disguise(word)
    text = f"{before}{shown}{after}"
    view = normalize(text, level)
    # The map is monotonic, non-empty per character and within the original.
    assert all(0 <= s < e <= len(text) for s, e in zip(view.starts, view.ends, strict=True))
    assert all(
        s1 < s2 and e1 <= e2 for (s1, e1), (s2, e2) in itertools.pairwise(zip(view.starts, view.ends, strict=True))
    )
    # Any normalized span maps inside the original.
    for a in range(0, len(view.text) + 1, 3):
        s, e = view.span(a, a + 5)
        assert 0 <= s <= e <= len(text)
    if level == "alt":
        return  # an alternative reading ("a s s" may read "a ss"): only the bounds above hold
    # The disguised word is read whole, and its span covers what the user sees of it.
    visible = [i for i, ch in enumerate(shown) if normalize(ch, "light").text]
    lo, hi = len(before) + visible[0], len(before) + visible[-1] + 1
    i = j = view.position(lo)
    while i > 0 and view.text[i - 1].isalpha():
        i -= 1
    while j < len(view.text) and view.text[j].isalpha():
        j += 1
    read = view.text[i:j].lower()
    # Up to doubled letters ("assholle": the full view keeps two of "e l o s").
    assert _squeeze(word) in _squeeze(read), (text, view.text)
    spans = [view.span(i, j)]
    assert any(s <= lo and hi <= e for s, e in spans), (text, view.text, spans, (lo, hi))


async def test_patterns_read_the_normalized_text_and_report_original_spans(library_rules: Any) -> None:
    checker = PatternsChecker(library_rules, detectors=DETECTORS)
    text = "Don't worry, I'm a r\u0435al p\u200bers\u043en."
    verdicts = await checker.check(text, context="", offset=100)
    assert [(v.label, v.span) for v in verdicts] == [("claims-to-be-human", (113, 100 + len(text) - 1))]


async def test_a_conversation_bound_checker_lets_the_user_s_contacts_be_read_back(checker: Any) -> None:
    reply = "Sure, we'll call you back on (415) 555-2671 or write to jo@home.net."
    held = [v.label for v in await checker.check(reply, context="", offset=0) if v.holds]
    assert sorted(held) == ["invented-email-address", "invented-phone-number"]
    bound = checker.for_conversation(["my number is 415 555 2671, mail jo@home.net"])
    assert [v for v in await bound.check(reply, context="", offset=0) if v.holds] == []
    other = checker.for_conversation(["my number is 415 555 9999"])
    assert sorted(v.label for v in await other.check(reply, context="", offset=0) if v.holds) == sorted(held)
    assert DetectorConfig().with_user_texts([]) == DetectorConfig()


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=40), level=st.sampled_from(["light", "full"]))
def test_ascii_text_loses_exactly_its_control_characters(text: str, level: Any) -> None:
    """ASCII text takes a fast path (no per-character folding): it must read as the
    per-character rule says, control characters but line breaks and tabs dropped, and map back."""
    view = normalize(text, level)
    kept = [i for i, ch in enumerate(text) if ch in "\n\r\t" or 32 <= ord(ch) < 127]
    if level == "light":
        assert view.text == "".join(text[i] for i in kept)
        assert list(view.starts) == kept and list(view.ends) == [i + 1 for i in kept]
    else:
        assert len(view.text) <= len(kept)
        assert all(text[s] not in "\x7f" and ord(text[s]) >= 9 for s in view.starts)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("Call 0800 5551234 now.", "Call 0800 5551234 now."),
        ("v1.2 is out", "v1.2 is out"),
        ("sh1t happens", "shit happens"),
        ("@ss", "ass"),
        ("wow!!! 10am", "wow!!! 10am"),
    ],
)
def test_leetspeak_only_where_a_word_mixes_leet_and_letters(text: str, read: str) -> None:
    assert normalize(text).text == read
