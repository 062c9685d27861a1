"""Checks: what a verdict is, what a checker does, and how several run together.

A checker looks at one piece of text (a chunk of a reply, or a user's message) together with
the text just before it, and returns verdicts. Spans are absolute character offsets in the
whole reply (``offset`` is where ``text`` starts; ``context`` ends exactly there).

Nothing in this package imports Django or guardrails' Django modules (import-linter enforces
it): the stages in ``guardrails.pipeline`` and ``guardrails.policy`` use it without settings.
The process's checkers, built from settings and the database, come from ``guardrails.wiring``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

log = logging.getLogger(__name__)

Severity = Literal["hold", "flag"]
FailMode = Literal["closed", "open"]
Scope = Literal["output", "input"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One finding of one check.

    ``passed=False`` with ``severity="hold"`` withholds the text; with ``severity="flag"`` the
    text is released but the reply is marked for review. ``passed=True`` verdicts are only
    informative (e.g. a fail-open check error that let the text through).
    ``detail`` carries what a reviewer needs: model name/version, pattern id/version, the
    matched text, all scores.
    """

    check: str
    label: str
    score: float
    span: tuple[int, int]
    passed: bool
    severity: Severity = "hold"
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return not self.passed and self.severity == "hold"

    @property
    def flags(self) -> bool:
        return not self.passed and self.severity == "flag"

    def as_reason(self) -> dict[str, Any]:
        """The public shape used in protocol frames: ``{check, label, score, span}``."""
        return {"check": self.check, "label": self.label, "score": round(self.score, 4), "span": list(self.span)}


class Checker(Protocol):
    """Anything that can judge a piece of text.

    Contract: ``offset`` is the absolute start of ``text`` in the reply and ``context`` is the
    text immediately before it (possibly empty). Returned spans are absolute. A checker reports
    what it found; turning its errors into verdicts is :class:`CombinedChecker`'s job.
    """

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]: ...


@runtime_checkable
class ConversationAware(Protocol):
    """A checker whose judgement depends on what the user wrote earlier in the conversation
    (e.g. the pattern check lets the assistant read back the user's own phone number)."""

    def for_conversation(self, user_texts: Sequence[str]) -> Checker: ...


# While the event loop runs behind, a check's time limit stretches by the lag (a check kept
# waiting for the loop is not a slow check), up to this many times the limit in all, so a check
# that really hangs still fails within a bounded time.
_MAX_STRETCH = 4.0
# Lag below this share of the limit is ordinary scheduling, not a busy loop: no stretch.
_LAG_FLOOR = 0.1


class CombinedChecker:
    """Runs named checks concurrently on the same text, each with a timeout and a fail mode.

    A check that raises or overruns ``timeout`` becomes one verdict labelled ``"error"`` or
    ``"timeout"`` spanning the text: failing (``passed=False``, severity hold) when its fail mode
    is ``closed``, passing when ``open``. Other checks' verdicts are unaffected.

    ``loop_lag`` (seconds the event loop has lately been running behind; the app passes
    ``observability.loadwatch.lag``) keeps overload from turning into holds: when the limit
    runs out while the loop is behind, the checks get that much longer, again while it stays
    behind, up to ``_MAX_STRETCH`` times the limit.
    """

    def __init__(
        self,
        checks: Mapping[str, Checker],
        *,
        timeout: float,
        fail_modes: Mapping[str, FailMode] | None = None,
        loop_lag: Callable[[], float] | None = None,
    ) -> None:
        self.checks = dict(checks)
        self.timeout = timeout
        self.fail_modes = dict(fail_modes or {})
        self.loop_lag = loop_lag

    def for_conversation(self, user_texts: Sequence[str]) -> CombinedChecker:
        """A copy bound to one conversation: ``user_texts`` are the user's messages in it, in
        any order. Checks that care (:class:`ConversationAware`) get a bound copy, the others
        are shared. Cheap enough to call once per reply."""
        checks = {
            name: check.for_conversation(user_texts) if isinstance(check, ConversationAware) else check
            for name, check in self.checks.items()
        }
        return CombinedChecker(checks, timeout=self.timeout, fail_modes=self.fail_modes, loop_lag=self.loop_lag)

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        # One task per check and one wait for all of them (they start together, so one clock is
        # each one's limit): a chunk costs no more event-loop work than its checks need. Tasks
        # and asyncio.wait, not wait_for, so that a TimeoutError raised *inside* a check counts
        # as its error, not as our timeout.
        tasks = {
            name: asyncio.ensure_future(check.check(text, context=context, offset=offset))
            for name, check in self.checks.items()
        }
        try:
            late, waited = await self._wait(set(tasks.values()))
        except asyncio.CancelledError:
            for task in tasks.values():
                task.cancel()
            raise
        if late:
            for overdue in late:
                overdue.cancel()
            # Give the checks a moment to unwind (close sockets, drop their batch slots).
            await asyncio.wait(late, timeout=0.1)
        verdicts: list[Verdict] = []
        for name, task in tasks.items():
            if task in late:
                log.warning("check %s timed out after %.2fs (limit %.2fs)", name, waited, self.timeout)
                verdicts.append(self._failure(name, "timeout", text, offset, f"no answer within {waited:.2f}s"))
            elif (exc := task.exception()) is not None:
                log.error("check %s failed", name, exc_info=exc)
                verdicts.append(self._failure(name, "error", text, offset, f"{type(exc).__name__}: {exc}"))
            else:
                verdicts += task.result()
        return verdicts

    async def _wait(
        self, tasks: set[asyncio.Future[list[Verdict]]]
    ) -> tuple[set[asyncio.Future[list[Verdict]]], float]:
        """Wait for the checks up to the limit, longer while the loop runs behind: the late
        ones, and how long they had."""
        started = time.monotonic()
        _, late = await asyncio.wait(tasks, timeout=self.timeout)
        cap = _MAX_STRETCH * self.timeout
        while late and self.loop_lag is not None:
            lag, waited = self.loop_lag(), time.monotonic() - started
            if lag < _LAG_FLOOR * self.timeout or waited >= cap:
                break
            _, late = await asyncio.wait(late, timeout=min(lag, cap - waited))
        return late, time.monotonic() - started

    def _failure(self, name: str, label: str, text: str, offset: int, error: str) -> Verdict:
        mode = self.fail_modes.get(name, "closed")
        return Verdict(
            check=name,
            label=label,
            score=1.0 if mode == "closed" else 0.0,
            span=(offset, offset + len(text)),
            passed=mode == "open",
            severity="hold",
            detail={"error": error, "fail_mode": mode},
        )


def failing(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """The verdicts that hold or flag, hold-severity first (stable within each group)."""
    return [v for v in verdicts if v.holds] + [v for v in verdicts if v.flags]


__all__ = [
    "Checker",
    "CombinedChecker",
    "ConversationAware",
    "FailMode",
    "Scope",
    "Severity",
    "Verdict",
    "failing",
]
