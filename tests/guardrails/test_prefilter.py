"""The pattern check's gates: a rule is skipped only on text where it cannot match."""

from __future__ import annotations

import gzip
import json
import string
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails import library
from guardrails.checks import detectors
from guardrails.checks.detectors import DetectorConfig
from guardrails.checks.patterns import PatternRule, compile_rule
from guardrails.checks.prefilter import fold, gate, required_literals
from guardrails.normalize import normalize

ROOT = Path(__file__).resolve().parents[2]
FLAGS = regex.IGNORECASE | regex.VERSION0
VERSIONS = {"v1": library.SEED_V1, "v2": library.SEED_V2, "v3": library.SEED_V3, "v4": library.SEED_V4}
RULES = {
    f"{version}:{row['name']}": row for version, rows in VERSIONS.items() for row in rows if row["kind"] == "regex"
}


def corpus(limit: int = 1500) -> list[str]:
    texts: list[str] = []
    paths = sorted((ROOT / "eval" / "public").glob("*.jsonl.gz")) + sorted(
        (ROOT / "tests" / "guardrails" / "data").glob("*.jsonl*")
    )
    for path in paths:
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as lines:
            texts += [str(json.loads(line).get("text", "")) for line in lines][:limit]
    return texts


def test_every_character_that_matches_an_ascii_letter_folds_to_it() -> None:
    # The gates look for lower-case words in folded text; the regex module also matches a few
    # non-ASCII characters to ASCII letters (IGNORECASE): folding must give those letters.
    letters = {c: regex.compile(c, FLAGS) for c in string.ascii_lowercase}
    any_letter = regex.compile("[a-z]", FLAGS)
    twins = 0
    for code in range(0x80, 0x110000):
        char = chr(code)
        if any_letter.fullmatch(char):
            twins += 1
            for letter, pattern in letters.items():
                if pattern.fullmatch(char):
                    assert letter in fold(char) and letter + "x" in fold(char + "x"), hex(code)
    assert twins >= 3  # dotted capital I, long s and the Kelvin sign, as of this regex release


@pytest.mark.parametrize("key", sorted(RULES))
def test_a_gate_never_turns_away_text_its_rule_matches(key: str) -> None:
    row = RULES[key]
    compiled = regex.compile(row["expression"], FLAGS)
    may_match = gate(row["expression"])
    examples = row.get("tests", {})
    texts = [*examples.get("must_match", []), *examples.get("must_not_match", []), *corpus()]
    matched = 0
    for text in texts:
        for view in {text, normalize(text, "full").text}:
            if compiled.search(view):
                matched += 1
                assert may_match is None or may_match(view), (key, view)
    assert matched  # the rule is exercised, not vacuously passed


def _disguise(word: str, how: int) -> str:
    # Case changes and the characters that match ASCII letters only case-insensitively.
    if how == 1:
        return word.upper()
    if how == 2:
        return word.title()
    if how == 3:
        return word.replace("s", "\u017f").replace("i", "\u0130").replace("k", "\u212a")
    return word


_library_words = sorted({w for row in RULES.values() for w in (required_literals(row["expression"]) or ())})
_words = st.one_of(
    st.sampled_from(_library_words),
    st.sampled_from(["I", "we", "you", "have", "just", "your", "the", "a", "has been", "to", "will", "not", "if"]),
    st.sampled_from(["$", "€", "25", "100%", "'ve", "\u2019ll", ".", ",", "\n"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(sorted(RULES)),
    words=st.lists(st.tuples(_words, st.integers(0, 3)), max_size=25),
    glue=st.sampled_from([" ", "  ", "\t", " "]),
)
def test_the_check_finds_what_the_rule_finds_with_or_without_a_gate(
    key: str, words: list[tuple[str, int]], glue: str
) -> None:
    row = RULES[key]
    text = glue.join(_disguise(w, how) for w, how in words)
    rule = PatternRule(name=row["name"], kind="regex", expression=row["expression"])
    expected = [
        (m.start(), m.end()) for m in regex.compile(row["expression"], FLAGS).finditer(text) if m.end() > m.start()
    ]
    found = [(start, end) for start, end, _ in compile_rule(rule)(text, DetectorConfig())]
    assert found == expected


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        (r"(?:refund){e<=1}", "we refond you"),  # fuzzy matching: re would read "{e<=1}" as text
        (r"[[:alpha:]]+ed", "processed"),  # a POSIX class: re would read a set and a "]"
        (r"(?f)strasse", "STRAẞE"),  # full case folding: one letter matches two
        (r"\p{L}+ed", "processed"),  # only the regex module knows \p
        (r"(?|(proc)|(acc))essed", "processed"),  # branch reset
    ],
)
def test_syntax_read_differently_by_the_regex_module_gets_no_gate(expression: str, text: str) -> None:
    assert regex.compile(expression, FLAGS).search(text)  # the rule matches this text...
    assert gate(expression) is None  # ...so nothing may claim it cannot


def test_a_gate_asks_for_the_words_every_match_needs() -> None:
    assert required_literals(r"\b(?:i|we)\s+(?:have\s+)?(?:issued|sent)\b") == frozenset({"issued", "sent"})
    assert required_literals(r"(?-i:Acme Corp)\s+(?:study|survey)") == frozenset({"acme corp"})
    assert required_literals(r"\brefund(?:ed)?\b|\bcredit\b") == frozenset({"refund", "credit"})
    assert required_literals(r"\bcredit\b|\w+ly\b") == frozenset({"credit", "ly"})
    assert required_literals(r"\bcredit\b|\w+\d") is None  # a branch without a word: no gate
    assert required_literals(r"[$€]\s?\d+") == frozenset({"$", "€"})
    # What a negative lookaround names must be absent, not present; a positive one's is present.
    assert required_literals(r"\d+(?!\s*refunded)(?<!credit\s\d)") is None
    assert required_literals(r"\d+(?=\s*refunded)") == frozenset({"refunded"})
    may_match = gate(r"\bwe\s+(?:refunded|credited)\b")
    assert may_match is not None
    assert may_match("WE REFUNDED IT") and not may_match("We looked into it for you.")


# --- The detectors' gates ------------------------------------------------------------------

UNGATED = {
    "unlisted_link": detectors.unlisted_link,
    "email_address": detectors.email_address,
    "phone_number": detectors.phone_number,
}
# Disguises the corpora hold few of: spelled dots and ats, addresses and hosts without "www",
# IP addresses, full-width ("www.example.com") and look-alike characters (read through the light view), numbers
# written with odd separators.
DISGUISED = [
    "Claim it at refunds-desk dot net today.",
    "Go to example[.]com or help (dot) example {.} co [.] uk.",
    "Write to john.doe [at] gmail (dot) com, or jane{at}mail.example.org.",
    "Mail BILLING@EXAMPLE.ORG now.",
    "Open http://203.0.113.9:8080/claim or 10.0.0.1/admin.",
    "\uff57\uff57\uff57\uff0e\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
    "visit examp\u200ble.c\u043em",
    "Visit bit.ly/3xYz.",
    "Call 555_123_4567 or 555·123·4567 or +44 (20) 7946-0958.",
    "Phone: \uff15\uff15\uff15 \uff11\uff12\uff13 \uff14\uff15\uff16\uff17.",
    "ring them on 0800 123 456",
    "HTTPS://EXAMPLE.NET/X",
    "Node.js v20 and e.g. Python 3.12.1 are fine.",
]


def _detector_texts() -> list[str]:
    examples = [
        text
        for rows in VERSIONS.values()
        for row in rows
        if row["kind"] == "detector"
        for key in ("must_match", "must_not_match")
        for text in row.get("tests", {}).get(key, [])
    ]
    return [*DISGUISED, *examples, *corpus(limit=3000)]


@pytest.mark.parametrize("name", sorted(UNGATED))
def test_a_detector_gate_never_turns_away_text_its_detector_finds_something_in(name: str) -> None:
    detector, may_hold = UNGATED[name], detectors.GATES[name]
    cfg = DetectorConfig()
    found = turned_away = 0
    for text in _detector_texts():
        for view in {text, normalize(text, "light").text}:
            expected = list(detector(view, cfg))
            assert list(detectors.DETECTORS[name](view, cfg)) == expected, (name, view)
            if expected:
                found += 1
                assert may_hold(view), (name, view)
            elif not may_hold(view):
                turned_away += 1
    # Exercised both ways: the detector finds things, and the gate spares it most texts.
    assert found >= 10 and turned_away >= 1000, (found, turned_away)
