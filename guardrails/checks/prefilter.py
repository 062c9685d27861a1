"""Which words a regular expression cannot match without: a test that skips a rule on text
that lacks all of them. No Django.

Invariant first: **a gate never says no to a text in which its rule has a match.** The gate
is derived from the expression itself, so it holds for any rule staff write, and where the
expression uses anything this module does not understand exactly, there is no gate (the rule
always runs): a rule is only ever skipped, never judged differently.

How: the expression is parsed with Python's own parser (``re._parser``; the pattern check
compiles with the ``regex`` module in its ``VERSION0`` mode, whose syntax ``re`` shares for
the constructs allowed here: :func:`_plain_syntax` lets nothing else through). From the tree,
:func:`required_literals` computes a set of strings of which every match holds (or whose
lookarounds see) at least one: a run of literal characters, small character sets and
alternations expanded, the strongest such set in a sequence, the union over the branches of
an alternation. The gate looks for them in the text with its case folded as the pattern check
matches (``IGNORECASE``): lower case, after mapping the only three characters that match an
ASCII letter case-insensitively without lowering to it (:data:`ASCII_TWINS`, checked against
the ``regex`` module over all of Unicode in the tests). A literal character that has case and
is not ASCII ends a run (its case variants are the ``regex`` module's business).

Why: most replies mention no refund, guarantee or study; the library's rules cost a chunk
~0.2 ms when they run and a few microseconds when a gate turns them away (``bench.checks``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from re import _constants as sre  # type: ignore[attr-defined]  # private: the parser's node names
from re import _parser as sre_parse  # type: ignore[attr-defined]  # private: Python's own regex parser
from typing import Any

Gate = Callable[[str], bool]

# Characters other than A-Z that the regex module matches to an ASCII letter under IGNORECASE
# and that str.lower() does not turn into that letter alone (tests scan every code point).
ASCII_TWINS = {"\u0130": "i", "\u017f": "s"}  # capital I with a dot (lowers to i + U+0307), long s
_TWIN_TABLE = str.maketrans(ASCII_TWINS)

# At most this many strings in a set: past it, a run of literals stops growing.
_MAX_STRINGS = 64

# Words so common that a set holding one tells almost nothing: a set without them is chosen
# first (this only decides which of several sound requirements a gate uses).
_COMMON_WORDS = (
    "a an and are as at be but by can do for from get have he her his i if in is it its me my no not of "
    "on or our she so than that the their them there they this to up us was we what when which who will "
    "with would you your"
)
_COMMON = frozenset(_COMMON_WORDS.split())

_QUANTIFIER = re.compile(r"\{\d*(?:,\d*)?\}")
_FLAGS = frozenset("aimsux-")


def _plain_syntax(expression: str) -> bool:
    """Whether ``expression`` uses only syntax that ``re`` parses as the ``regex`` module
    (``VERSION0``) reads it. Not: fuzzy matching (``(?:x){e<=1}``, which ``re`` would take as
    literal text), POSIX classes and nested sets (``[[:alpha:]]``), and inline flags other than
    a, i, m, s, u, x (regex's f, w, V1, r ... change what a literal matches); constructs that
    only ``regex`` knows (``\\p{L}``, ``(?|...)``, recursion) fail ``re``'s parser anyway."""
    i, n = 0, len(expression)
    in_set = False
    while i < n:
        char = expression[i]
        if char == "\\":
            i += 2
            continue
        if in_set:
            if char == "[" and expression.startswith(("[:", "[=", "[."), i):
                return False
            if char == "]":
                in_set = False
        elif char == "[":
            in_set = True
            if expression.startswith(("[^]", "[]"), i):
                i += 3 if expression[i + 1] == "^" else 2  # a leading "]" is a member
                continue
        elif char == "{" and not _QUANTIFIER.match(expression, i):
            return False
        elif char == "(" and expression.startswith("(?", i):
            j = i + 2
            if j < n and expression[j] not in ":=!>#<P":
                while j < n and expression[j] in _FLAGS:
                    j += 1
                if j >= n or expression[j] not in ":)":
                    return False
        i += 1
    return True


def gate(expression: str) -> Gate | None:
    """A test ``text -> may the rule match`` for ``expression``, or None when there is none."""
    literals = required_literals(expression)
    if not literals:
        return None
    needles = tuple(sorted(literals, key=len, reverse=True))

    def may_match(text: str) -> bool:
        folded = fold(text)
        return any(n in folded for n in needles)

    return may_match


@functools.lru_cache(maxsize=64)
def fold(text: str) -> str:
    """``text`` with its case folded as the gates compare it (cached: every rule asks)."""
    return text.translate(_TWIN_TABLE).lower() if not text.isascii() else text.lower()


def required_literals(expression: str) -> frozenset[str] | None:
    """Strings of which each match of ``expression`` (compiled case-insensitively) holds or
    sees one, lower-cased; None when no such set can be derived safely."""
    if not _plain_syntax(expression):
        return None
    try:
        tree = sre_parse.parse(expression, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None
    exact, required = _sequence(list(tree))
    found = exact if exact is not None and "" not in exact else required
    return frozenset(found) if found else None


# A node's (exact, required): ``exact`` the complete set of strings it can match (None: not a
# small finite set); ``required`` a set of strings one of which each match holds (None: none).
_Info = tuple[set[str] | None, set[str] | None]


def _sequence(items: Sequence[tuple[Any, Any]]) -> _Info:
    candidates: list[set[str]] = []
    run: set[str] = {""}
    all_exact = True
    for op, av in items:
        exact, required = _node(op, av)
        if exact is None:
            all_exact = False
            if run != {""}:
                candidates.append(run)
            run = {""}
            if required:
                candidates.append(required)
            continue
        grown = {a + b for a in run for b in exact}
        if len(grown) > _MAX_STRINGS:
            all_exact = False
            if run != {""}:
                candidates.append(run)
            run = set(exact)
        else:
            run = grown
    if run != {""}:
        candidates.append(run)
    return (run if all_exact else None), _strongest(candidates)


def _strongest(candidates: Iterable[set[str]]) -> set[str] | None:
    usable = [c for c in candidates if c and "" not in c]
    if not usable:
        return None
    return max(usable, key=lambda c: (not (c & _COMMON), min(map(len, c)), -len(c)))


def _node(op: Any, av: Any) -> _Info:
    if op is sre.LITERAL:
        char = chr(av)
        return ({char.lower()} if _plain_char(char) else None), None
    if op is sre.IN:
        chars: set[str] = set()
        for item_op, item in av:
            if item_op is not sre.LITERAL or not _plain_char(chr(item)):
                return None, None  # a range, a class (\d, \w), a negation: not a small known set
            chars.add(chr(item).lower())
        return chars, None
    if op is sre.BRANCH:
        infos = [_sequence(list(branch)) for branch in av[1]]
        exacts = [e for e, _ in infos]
        exact: set[str] | None = None
        if all(e is not None for e in exacts):
            exact = set().union(*(e for e in exacts if e is not None))
            if len(exact) > _MAX_STRINGS:
                exact = None
        per_branch = [e if e is not None and "" not in e else r for e, r in infos]
        required = set().union(*per_branch) if all(per_branch) else None  # type: ignore[arg-type]  # all() checked
        return exact, required
    if op is sre.SUBPATTERN:
        return _sequence(list(av[3]))
    if op is sre.ATOMIC_GROUP:
        return _sequence(list(av))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, high, item = av
        exact, required = _sequence(list(item))
        if low == high == 1:
            return exact, required
        if low >= 1:
            return None, exact if exact is not None and "" not in exact else required
        return None, None
    if op is sre.ASSERT:  # a lookaround that must succeed: what it sees is in the text
        exact, required = _sequence(list(av[1]))
        return None, exact if exact is not None and "" not in exact else required
    return None, None  # anchors, negative lookarounds, classes, any, backreferences, conditionals


def _plain_char(char: str) -> bool:
    """A literal the gate can look for in lower-cased text: ASCII, or without case."""
    return char.isascii() or (char.lower() == char and char.upper() == char and char not in ASCII_TWINS)


__all__ = ["ASCII_TWINS", "Gate", "fold", "gate", "required_literals"]
