"""Text as a check should read it: disguises undone, with a map back to what the user sees.

People (and jail-broken models) hide words from checks: ``\uff46\uff55\uff43\uff4b``
(full-width), ``fu\u0441k`` (a Cyrillic ``\u0441``), ``f\u200bu\u200bck`` (invisible
characters), ``f u c k`` / ``f.u.c.k`` (spaced out), ``sh1t`` / ``@ss`` (leetspeak),
``fuuuuck`` (repeats). :func:`normalize` undoes these, in this order:

1. per character: Unicode NFKC (full-width and styled letters, ligatures), accents and other
   combining marks dropped, invisible characters (format characters such as zero-width spaces,
   joiners, soft hyphens, bidi marks; variation selectors; Hangul fillers) removed, and
   look-alike letters of other scripts folded to the Latin letter they imitate, using the
   Unicode confusables data shipped in ``confusable-homoglyphs`` (not a hand-written table);
2. (``full`` only) runs of three or more single letters separated by spaces or punctuation
   joined ("f u c k", "f.u.c.k", "f-u-c-k");
3. (``full`` only) leetspeak mapped (``0 1 3 4 5 7 @ $ !`` → ``o i e a s t a s i``) inside
   words that also have letters and do not look like identifiers, sizes or times ("x200",
   "4th", "10am", "1Z999AA1" stay as they are);
4. (``full`` only) a letter repeated three or more times collapsed to one (two for letters
   that English often doubles: ``e l o s``).

The ``alt`` level is ``full`` read the other way where it had to guess: every repeat
collapsed to one letter ("ssssshit" → "shit"), and a spaced run starting with a lone "a" or
"I" keeps that word apart ("a m o r o n" → "a moron"). The toxicity check scores both.

The ``light`` level (step 1 only) is for detectors that read punctuation and digits (links,
phone numbers, e-mail addresses), which leetspeak mapping would corrupt.

Invariant (property-tested in ``tests/guardrails/test_normalize.py``): every normalized
character comes from a non-empty range of original characters, the ranges are in order and
never overlap, so :meth:`Normalized.span` of any normalized span is a span of the original
that lies within it and covers every original character the normalized span came from — in
particular, the whole disguised word the user would see, separators and repeats included.
Invisible characters belong to no normalized character; at the edge of a word they are not
part of its mapped span (they show nothing).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from confusable_homoglyphs import confusables

Level = Literal["light", "full", "alt"]

# Invisible in running text although not in category Cf: fillers that render as blank space
# of zero or letter width, and the combining grapheme joiner.
_INVISIBLE_EXTRA = frozenset("\u115f\u1160\u3164\uffa0\u034f\u17b4\u17b5\u180e")
_DROPPED_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cc"})
_KEPT_CONTROLS = frozenset("\n\r\t")

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
_LEET_KEYS = frozenset(_LEET)
# Digits that never stand for letters: a word containing one is a number or an identifier.
_NOT_LEET_DIGITS = frozenset("2689")
# Words with digits that are ordinary: ordinals, times, sizes and units, versions.
_ORDINARY_ALNUM = re.compile(
    r"\d+(?:st|nd|rd|th|s|am|pm|k|m|x|p|d|h|hz|khz|mhz|ghz|kb|mb|gb|tb|g|kg|mg|ml|l|cm|mm|km|in|ft|oz|lb|lbs|"
    r"mp|px|fps|min|hr|hrs|yr|yrs|mo|w|v|a|mah|gen)"
    r"|v\d+|\d+[a-z]\d+",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+|[@$!]")
_TOKEN = re.compile(r"[A-Za-z0-9@$!]+")
# Three or more single letters (or leet characters), each pair separated by the same 1-3
# spaces or punctuation marks.
_SPACED = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z0-9@$](?P<sep>[ .\-_*/+~·•|]{1,3})[A-Za-z0-9@$](?![A-Za-z0-9])"
    r"(?:(?P=sep)[A-Za-z0-9@$](?![A-Za-z0-9]))+"
)
_SEPARATOR = frozenset(" .-_*/+~·•|")
_REPEAT = re.compile(r"([A-Za-z])\1{2,}", re.IGNORECASE)
_DOUBLED_LETTERS = frozenset("elos")


@dataclass(frozen=True, slots=True)
class Normalized:
    """``text`` read from ``original``; normalized character ``i`` came from
    ``original[starts[i]:ends[i]]``."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @property
    def changed(self) -> bool:
        return self.text != self.original

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that normalized ``text[start:end]`` came from.

        Always within ``0..len(original)``; an empty span maps to an empty span at the
        corresponding original position.
        """
        start = max(0, min(start, len(self.text)))
        end = max(start, min(end, len(self.text)))
        if end > start:
            return self.starts[start], self.ends[end - 1]
        position = self.starts[start] if start < len(self.text) else len(self.original)
        return position, position

    def position(self, original_index: int) -> int:
        """The first normalized index whose character starts at or after ``original_index``."""
        lo, hi = 0, len(self.starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.starts[mid] < original_index:
                lo = mid + 1
            else:
                hi = mid
        return lo


@functools.cache
def _fold(char: str) -> str:
    """Step 1 for one character: NFKC, marks and invisibles dropped, look-alikes folded."""
    if char.isascii():
        return "" if unicodedata.category(char) == "Cc" and char not in _KEPT_CONTROLS else char
    if char in _INVISIBLE_EXTRA:
        return ""
    out = []
    for piece in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char)):
        if unicodedata.category(piece) in _DROPPED_CATEGORIES and piece not in _KEPT_CONTROLS:
            continue
        out.append(piece if piece.isascii() else _look_alike(piece))
    return "".join(out)


@functools.cache
def _look_alike(char: str) -> str:
    """The ASCII letter or digit ``char`` imitates (Unicode confusables), else ``char``."""
    if not char.isalnum():
        return char
    # Lower-case Greek and Cyrillic letters are listed against small capitals ("\u03c4" against
    # "\u1d1b"); their capitals are listed against Latin capitals: fold through those.
    for probe, lower in ((char, False), (char.upper(), char.islower())):
        found = _ascii_confusable(probe) if len(probe) == 1 else None
        if found:
            return found.lower() if lower else found
    return char


def _ascii_confusable(char: str) -> str | None:
    candidates: list[str] = [str(h["c"]) for h in confusables.confusables_data.get(char, ()) if len(h["c"]) == 1]
    ascii_alnum = [c for c in candidates if c.isascii() and c.isalnum()]
    letters = [c for c in ascii_alnum if c.isalpha()]
    for pool in (letters, ascii_alnum):
        if pool:
            same_case = [c for c in pool if c.islower() == char.islower()]
            return (same_case or pool)[0]
    return None


def _is_leet_word(word: str) -> bool:
    letters = sum(ch.isalpha() for ch in word)
    leet = sum(ch in _LEET for ch in word)
    if not letters or not leet or any(ch in _NOT_LEET_DIGITS for ch in word):
        return False
    if re.search(r"\d{3}", word) or _ORDINARY_ALNUM.fullmatch(word.rstrip("!")):
        return False
    # "$" before a number that ends the word is a price ("US$15"); "!" at the end is punctuation.
    return not re.search(r"\$\d+$", word.rstrip("!"))


class _Builder:
    """Normalized characters with their original ranges, edited stage by stage."""

    def __init__(self, chars: list[str], starts: list[int], ends: list[int]) -> None:
        self.chars, self.starts, self.ends = chars, starts, ends

    def text(self) -> str:
        return "".join(self.chars)

    def rebuild(self, keep: list[tuple[str, int, int]]) -> None:
        self.chars = [c for c, _, _ in keep]
        self.starts = [s for _, s, _ in keep]
        self.ends = [e for _, _, e in keep]


def _step_unicode(original: str) -> _Builder:
    if _plain(original):  # every character folds to itself: skip the per-character loop
        n = len(original)
        return _Builder(list(original), list(range(n)), list(range(1, n + 1)))
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, char in enumerate(original):
        for out in _fold(char):
            chars.append(out)
            starts.append(i)
            ends.append(i + 1)
    return _Builder(chars, starts, ends)


def _step_spaced(b: _Builder, *, alt: bool) -> None:
    text = b.text()
    drop: set[int] = set()
    for m in _SPACED.finditer(text):
        run = m.group()
        members = [ch for ch in run if ch not in _SEPARATOR]
        if sum(ch.isalpha() for ch in members) < 2:
            continue
        first = 0
        if alt and members[0].lower() in "ai" and len(members) >= 4 and run[1] == " ":
            # "a m o r o n": the article stands apart in the alternative reading.
            first = run.index(members[1], 1)
        drop.update(m.start() + k for k, ch in enumerate(run) if ch in _SEPARATOR and k >= first)
    if drop:
        b.rebuild(
            [(c, s, e) for k, (c, s, e) in enumerate(zip(b.chars, b.starts, b.ends, strict=True)) if k not in drop]
        )


def _step_leet(b: _Builder) -> None:
    text = b.text()
    if _LEET_KEYS.isdisjoint(text):
        return
    for m in _TOKEN.finditer(text):
        word = m.group()
        if _LEET_KEYS.isdisjoint(word) or not _is_leet_word(word):
            continue
        last = len(word.rstrip("!"))
        for k, ch in enumerate(word[:last]):
            if ch in _LEET:
                b.chars[m.start() + k] = _LEET[ch]


def _step_repeats(b: _Builder, *, alt: bool) -> None:
    text = b.text()
    if not _REPEAT.search(text):
        return
    keep: list[tuple[str, int, int]] = []
    cursor = 0
    for m in _REPEAT.finditer(text):
        keep.extend(
            zip(b.chars[cursor : m.start()], b.starts[cursor : m.start()], b.ends[cursor : m.start()], strict=True)
        )
        n = 2 if m.group(1).lower() in _DOUBLED_LETTERS and not alt else 1
        first, last = m.start(), m.end() - 1
        # The kept letters together cover the whole run: the first from its start, the
        # last to the run's end.
        if n == 1:
            keep.append((b.chars[first], b.starts[first], b.ends[last]))
        else:
            keep.append((b.chars[first], b.starts[first], b.ends[first]))
            keep.append((b.chars[first + 1], b.starts[first + 1], b.ends[last]))
        cursor = m.end()
    keep.extend(zip(b.chars[cursor:], b.starts[cursor:], b.ends[cursor:], strict=True))
    b.rebuild(keep)


# The characters of category Cc in ASCII, less the kept line breaks and tab.
_ASCII_DROPPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain(text: str) -> bool:
    """Whether step 1 leaves ``text`` as it is: ASCII without dropped control characters."""
    return text.isascii() and _ASCII_DROPPED.search(text) is None


# Anything that step 2-4 could change, in ASCII text: a fast path for ordinary replies.
_MAYBE_DISGUISED = re.compile(r"[A-Za-z0-9@$][ .\-_*/+~|]{1,3}[A-Za-z0-9@$][ .\-_*/+~|]|[0-9@$!]|([A-Za-z])\1\1")


@functools.lru_cache(maxsize=64)
def _identity(n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The offset map of an unchanged text of ``n`` characters (shared: tuples are immutable)."""
    return tuple(range(n)), tuple(range(1, n + 1))


@functools.lru_cache(maxsize=4096)
def normalize(text: str, level: Level = "full") -> Normalized:
    """``text`` with disguises undone (see the module docstring), and its offset map.

    Pure and cached: the checks of one chunk share the work.
    """
    if _plain(text) and (level == "light" or not _MAYBE_DISGUISED.search(text)):
        return Normalized(text, text, *_identity(len(text)))
    b = _step_unicode(text)
    if level != "light":
        _step_spaced(b, alt=level == "alt")
        _step_leet(b)
        _step_repeats(b, alt=level == "alt")
    return Normalized(text, b.text(), tuple(b.starts), tuple(b.ends))


__all__ = ["Level", "Normalized", "normalize"]
