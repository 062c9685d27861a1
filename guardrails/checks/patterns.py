"""The hallucination-pattern check: staff-editable rules, as plain data, compiled once.

Rules come from a *source* (an async callable returning :class:`PatternRules`, e.g.
``guardrails.selectors.apattern_rules``) so this module has no Django in it. A rule is
recompiled only when its ``(id, version, kind, expression)`` changes, so an admin edit takes
effect on the next check without a restart.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import regex

from guardrails.checks import Scope, Severity, Verdict, prefilter
from guardrails.checks.detectors import DETECTORS, DetectorConfig, Found
from guardrails.normalize import normalize

log = logging.getLogger(__name__)

_T = TypeVar("_T")
Kind = Literal["regex", "detector"]
AppliesTo = Literal["output", "input", "both"]


@dataclass(frozen=True, slots=True)
class PatternRule:
    """One rule as plain data. ``expression``: the regex (matched case-insensitively unless it
    says ``(?-i)``) or the detector's name."""

    name: str
    kind: Kind
    expression: str
    severity: Severity = "hold"
    applies_to: AppliesTo = "output"
    version: int = 1
    id: int | None = None


@dataclass(frozen=True, slots=True)
class PatternRules:
    """The enabled rules and a stamp that changes whenever any rule does."""

    stamp: Hashable
    rules: tuple[PatternRule, ...] = field(default_factory=tuple)


RulesSource = Callable[[], Awaitable[PatternRules]]


class PatternTimeout(RuntimeError):
    """A regular expression ran past ``GUARDRAILS_REGEX_TIMEOUT`` (catastrophic backtracking)."""


Finder = Callable[[str, DetectorConfig], Iterable[Found]]


def compile_rule(rule: PatternRule, *, timeout: float | None = 0.25) -> Finder:
    """A function finding the rule's matches in one view of a text (see :func:`find_in`).
    Raises ``ValueError`` for a bad rule."""
    if rule.kind == "detector":
        detector = DETECTORS.get(rule.expression)
        if detector is None:
            raise ValueError(f"unknown detector {rule.expression!r}; known: {', '.join(sorted(DETECTORS))}")
        return detector
    if rule.kind != "regex":
        raise ValueError(f"unknown kind {rule.kind!r}")
    try:
        compiled = regex.compile(rule.expression, regex.IGNORECASE | regex.VERSION0)
    except regex.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    # Text holding none of the words every match needs is not searched (prefilter.py).
    may_match = prefilter.gate(rule.expression)

    def find(text: str, cfg: DetectorConfig) -> list[Found]:
        if may_match is not None and not may_match(text):
            return []

        # The timeout bounds a pathological staff-written regex; the combined checker turns
        # the error into an "error" verdict (fail closed by default).
        def matches(wall: float | None) -> list[Found]:
            found = compiled.finditer(text, timeout=wall)
            return [(m.start(), m.end(), {"match": m.group()}) for m in found if m.end() > m.start()]

        try:
            return within_cpu_budget(matches, timeout)
        except TimeoutError:
            raise PatternTimeout(f"pattern {rule.name!r} used more than {timeout}s of CPU") from None

    return find


_RETRIES = 4


def within_cpu_budget(run: Callable[[float | None], _T], budget: float | None) -> _T:
    """``run(wall_timeout)`` bounded by ``budget`` seconds of this thread's *CPU* time.

    The ``regex`` module's timeout is wall-clock time: on a saturated machine a cheap match can
    exceed it while its thread waits for a core, and failing closed would turn overload into
    holds. So a wall timeout is retried (with twice the wall time, up to ``_RETRIES`` times)
    unless the thread really spent ``budget`` of CPU. Even then the match runs once more with
    the CPU counted from there: what the thread spent may not be the pattern's (a garbage
    collection of a large heap during the match took 0.3 s here, the check's other rules count
    too). A second overrun raises ``TimeoutError``: a pathological pattern burns at most about
    twice ``budget`` of CPU and fails.
    """
    if budget is None:
        return run(None)
    # A check reads the clock once for all its rules (a system call each time): the CPU its
    # regexes used since it began is then what counts, never less than this rule's own.
    started = getattr(_check_started, "value", None)
    if started is None:
        started = _thread_time()
    wall, recounted = budget, False
    for _ in range(_RETRIES):
        try:
            return run(wall)
        except TimeoutError:
            now = _thread_time()
            if now - started < budget:
                wall *= 2  # the wall clock ran out while this thread waited for a CPU
            elif not recounted:
                started, wall, recounted = now, budget, True  # this rule alone, from here
            else:
                raise
    return run(wall)


def _thread_time() -> float:
    return time.thread_time()


_check_started = threading.local()


def find_in(find: Finder, kind: Kind, text: str, cfg: DetectorConfig) -> list[Found]:
    """Matches of a compiled rule in ``text`` as the check reads it: the raw text and its
    normalized view (:mod:`guardrails.normalize`), spans in ``text``.

    Regular expressions (phrases) read the ``full`` view, detectors (links, numbers,
    addresses: punctuation and digits matter) the ``light`` one. A match in the normalized
    view is mapped back to the characters it came from, and dropped when it overlaps a raw
    match of the same rule (the raw span is what a reviewer expects to see).
    """
    found = list(find(text, cfg))
    view = normalize(text, "light" if kind == "detector" else "full")
    if view.changed:
        for start, end, extra in find(view.text, cfg):
            a, b = view.span(start, end)
            if a < b and not any(s < b and a < e for s, e, _ in found):
                found.append((a, b, {**extra, "normalized": True}))
    return found


def example_failures(
    rule: PatternRule, must_match: Sequence[str], must_not_match: Sequence[str], detectors: DetectorConfig
) -> list[str]:
    """Problems with a rule: it does not compile, or one of its examples disagrees with it."""
    try:
        find = compile_rule(rule, timeout=1.0)
    except ValueError as exc:
        return [str(exc)]
    problems = [
        f"does not match its example {text!r}" for text in must_match if not find_in(find, rule.kind, text, detectors)
    ]
    problems += [
        f"matches its counter-example {text!r}" for text in must_not_match if find_in(find, rule.kind, text, detectors)
    ]
    return problems


class _Compiled:
    """Compiled rules, shared by a checker and its conversation-bound copies."""

    def __init__(self) -> None:
        self.stamp: Hashable = object()
        self.active: list[tuple[PatternRule, Finder]] = []
        self.cache: dict[tuple[Any, ...], Finder] = {}


class PatternsChecker:
    """Reports every match of an enabled rule that ends inside the new text.

    Each rule reads the raw text and its normalized view (:func:`find_in`); spans are in the
    raw text. Matches lying wholly in the context were judged with the chunk they belong to; a
    match that starts in the context and ends in the text (a phrase split across chunks) is
    reported now, with its full absolute span.
    """

    name = "patterns"

    def __init__(
        self,
        rules: RulesSource | PatternRules,
        *,
        scope: Scope = "output",
        detectors: DetectorConfig | None = None,
        regex_timeout: float = 0.25,
    ) -> None:
        self._source = rules
        self.scope = scope
        self.detectors = detectors or DetectorConfig()
        self.regex_timeout = regex_timeout
        self._compiled_rules = _Compiled()

    def for_conversation(self, user_texts: Sequence[str]) -> PatternsChecker:
        """A copy that lets the assistant read back contact details found in ``user_texts``
        (the user's own messages in this conversation). Cheap: compiled rules are shared."""
        bound = copy.copy(self)
        bound.detectors = self.detectors.with_user_texts(user_texts)
        return bound

    async def rules(self) -> PatternRules:
        if isinstance(self._source, PatternRules):
            return self._source
        return await self._source()

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        active = self._compiled(await self.rules())
        window = context + text
        base = offset - len(context)
        verdicts = []
        # No await below: the rules run back to back on this thread; their regex time limits
        # count the CPU this thread spends from here (within_cpu_budget).
        _check_started.value = _thread_time()
        try:
            found = [(rule, find_in(find, rule.kind, window, self.detectors)) for rule, find in active]
        finally:
            _check_started.value = None
        for rule, matches in found:
            for start, end, extra in matches:
                if end <= len(context):
                    continue
                verdicts.append(
                    Verdict(
                        check=self.name,
                        label=rule.name,
                        score=1.0,
                        span=(base + start, base + end),
                        passed=False,
                        severity=rule.severity,
                        detail={"pattern_id": rule.id, "pattern_version": rule.version, "kind": rule.kind, **extra},
                    )
                )
        return verdicts

    def _compiled(self, rules: PatternRules) -> list[tuple[PatternRule, Finder]]:
        state = self._compiled_rules
        if rules.stamp == state.stamp:
            return state.active
        cache: dict[tuple[Any, ...], Finder] = {}
        active = []
        for rule in rules.rules:
            if rule.applies_to not in (self.scope, "both"):
                continue
            key = (rule.id, rule.name, rule.version, rule.kind, rule.expression)
            find = state.cache.get(key)
            if find is None:
                try:
                    find = compile_rule(rule, timeout=self.regex_timeout)
                except ValueError as exc:
                    # Saving validates rules, so this is a row written around the admin.
                    log.error("pattern %r (id %s) skipped: %s", rule.name, rule.id, exc)
                    continue
            cache[key] = find
            active.append((rule, find))
        state.cache, state.active, state.stamp = cache, active, rules.stamp
        return active


def rules_from_mappings(rows: Iterable[Mapping[str, Any]], stamp: Hashable = None) -> PatternRules:
    """Plain rows (e.g. ``.values()``) to :class:`PatternRules`."""
    fields = PatternRule.__dataclass_fields__
    rules = tuple(PatternRule(**{k: v for k, v in row.items() if k in fields}) for row in rows)
    return PatternRules(stamp=stamp if stamp is not None else rules, rules=rules)
