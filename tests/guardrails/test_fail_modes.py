"""A check's own errors and timeouts: closed (hold, the default) or open (release)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from guardrails import policy
from guardrails.checks import CombinedChecker, Verdict, patterns
from guardrails.checks.detectors import DetectorConfig
from guardrails.checks.patterns import PatternRule, PatternTimeout, compile_rule
from tests.guardrails.conftest import released_text, run_reply


class Raises:
    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        raise RuntimeError("model exploded")


class Hangs:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return []


class Passes:
    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        return []


@pytest.mark.parametrize("broken", [Raises, Hangs])
async def test_fail_closed_holds(broken: type) -> None:
    checker = CombinedChecker({"toxicity": broken(), "patterns": Passes()}, timeout=0.05)
    out = await run_reply(["Hello there. ", "Bye."], checker)
    assert released_text(out) == ""
    hold = out[0]
    assert isinstance(hold, policy.Hold)
    label = "error" if broken is Raises else "timeout"
    assert [(v.check, v.label, v.passed) for v in hold.reasons] == [("toxicity", label, False)]
    assert hold.reasons[0].detail["fail_mode"] == "closed"


@pytest.mark.parametrize("broken", [Raises, Hangs])
async def test_fail_open_releases_and_reports(broken: type) -> None:
    instance = broken()
    checker = CombinedChecker(
        {"toxicity": instance, "patterns": Passes()}, timeout=0.05, fail_modes={"toxicity": "open"}
    )
    out = await run_reply(["Hello there. ", "Bye."], checker)
    assert released_text(out) == "Hello there. Bye."
    verdicts = await checker.check("x", context="", offset=0)
    assert [(v.label, v.passed) for v in verdicts] == [("error" if broken is Raises else "timeout", True)]
    if isinstance(instance, Hangs):
        assert instance.cancelled.is_set()  # the timed-out check does not linger


class AnswersLate:
    """Answers once ``answer`` is set: a check kept waiting (for the loop, for its model)."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        await self.answer.wait()
        return [Verdict("toxicity", "toxicity", 0.01, (offset, offset + len(text)), passed=True)]


async def test_a_check_kept_waiting_by_a_busy_loop_is_given_the_lag_not_held() -> None:
    late = AnswersLate()

    def lag() -> float:
        # Asked when the limit ran out: the loop is 0.5 s behind, and the answer comes meanwhile.
        late.answer.set()
        return 0.5

    checker = CombinedChecker({"toxicity": late, "patterns": Passes()}, timeout=0.05, loop_lag=lag)
    verdicts = await checker.check("Hello there. ", context="", offset=0)
    assert [(v.label, v.passed) for v in verdicts] == [("toxicity", True)]  # its answer, no timeout


async def test_without_lag_the_limit_holds_and_under_endless_lag_it_stops_stretching() -> None:
    quiet = CombinedChecker({"toxicity": Hangs()}, timeout=0.05, loop_lag=lambda: 0.0)
    verdicts = await quiet.check("x", context="", offset=0)
    assert [(v.label, v.passed) for v in verdicts] == [("timeout", False)]
    assert verdicts[0].detail["error"].startswith("no answer within 0.0")  # the limit, unstretched

    hangs = Hangs()
    swamped = CombinedChecker({"toxicity": hangs}, timeout=0.05, loop_lag=lambda: 10.0)
    verdicts = await swamped.check("x", context="", offset=0)
    assert [(v.label, v.passed) for v in verdicts] == [("timeout", False)]  # still fails closed
    waited = float(verdicts[0].detail["error"].removeprefix("no answer within ").removesuffix("s"))
    assert 0.2 <= waited < 1.0  # four times the limit, not the ten seconds of lag
    assert hangs.cancelled.is_set()


@pytest.mark.django_db
def test_the_app_s_checkers_stretch_by_the_event_loop_s_lag() -> None:
    from guardrails import wiring
    from observability import loadwatch

    assert wiring.get_checker().for_conversation(["hi"]).loop_lag is loadwatch.lag  # a turn's copy
    input_checker = wiring.get_input_checker()
    assert isinstance(input_checker, CombinedChecker) and input_checker.loop_lag is loadwatch.lag


async def test_other_checks_still_count_when_one_fails_open() -> None:
    class Finds:
        async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
            return [Verdict("patterns", "p", 1.0, (offset, offset + 1), passed=False)]

    checker = CombinedChecker({"toxicity": Raises(), "patterns": Finds()}, timeout=1, fail_modes={"toxicity": "open"})
    verdicts = await checker.check("x", context="", offset=7)
    assert sorted((v.check, v.passed) for v in verdicts) == [("patterns", False), ("toxicity", True)]


async def test_a_timeout_error_inside_a_check_is_its_error_not_our_timeout() -> None:
    class RegexTimesOut:
        async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
            raise TimeoutError("regex ran too long")

    checker = CombinedChecker({"patterns": RegexTimesOut()}, timeout=60)
    (verdict,) = await checker.check("x", context="", offset=0)
    assert (verdict.label, verdict.passed) == ("error", False)
    assert "regex ran too long" in verdict.detail["error"]


# --- The regex time limit counts CPU, not a busy machine's wall clock --------------------------


def test_a_catastrophic_regex_still_fails_after_its_cpu_budget() -> None:
    rule = PatternRule(name="backtracks", kind="regex", expression=r"(a|aa)+$")
    find = compile_rule(rule, timeout=0.05)
    with pytest.raises(PatternTimeout, match="CPU"):
        find("a" * 60 + "b", DetectorConfig())


def test_a_wall_clock_timeout_without_the_cpu_spent_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cheap match that ran out of wall time while its thread waited for a core (the CPU
    clock barely moved) is not the pattern's fault: it runs again with more wall time."""
    monkeypatch.setattr(patterns, "_thread_time", lambda: 0.0)  # no CPU spent, however long it takes
    walls: list[float | None] = []

    def run(wall: float | None) -> str:
        walls.append(wall)
        if len(walls) < 3:
            raise TimeoutError("regex timed out")
        return "matched"

    assert patterns.within_cpu_budget(run, 0.25) == "matched"
    assert walls == [0.25, 0.5, 1.0]


def test_a_wall_clock_timeout_with_the_cpu_spent_twice_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.3, 0.6])
    monkeypatch.setattr(patterns, "_thread_time", lambda: next(clock))
    walls: list[float | None] = []

    def run(wall: float | None) -> str:
        walls.append(wall)
        raise TimeoutError("regex timed out")

    with pytest.raises(TimeoutError):
        patterns.within_cpu_budget(run, 0.25)
    assert walls == [0.25, 0.25]  # once more with the CPU counted afresh, then it fails


def test_cpu_spent_before_the_match_is_not_the_pattern_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU the thread spent since the check began (a garbage collection of a large heap
    during the match: 0.3 s in an evaluation of 18,103 replies, the check's other rules) made
    a cheap rule fail closed and hold a good reply. The rule runs again, counted from there."""
    clock = iter([0.0, 0.3])
    monkeypatch.setattr(patterns, "_thread_time", lambda: next(clock))
    walls: list[float | None] = []

    def run(wall: float | None) -> str:
        walls.append(wall)
        if len(walls) == 1:
            raise TimeoutError("regex timed out")
        return "matched"

    assert patterns.within_cpu_budget(run, 0.25) == "matched"
    assert walls == [0.25, 0.25]


async def test_a_pattern_check_reads_the_cpu_clock_once_for_all_its_rules(
    monkeypatch: pytest.MonkeyPatch, library_rules: Any
) -> None:
    reads: list[int] = []

    def counted() -> float:
        reads.append(1)
        return 0.0

    monkeypatch.setattr(patterns, "_thread_time", counted)
    checker = patterns.PatternsChecker(library_rules, detectors=DetectorConfig())
    assert len(checker._compiled(library_rules)) > 5
    await checker.check("Call (415) 555-0187 or visit https://claim-refunds.net now.", context="", offset=0)
    assert len(reads) == 1
