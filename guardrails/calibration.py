"""What reviewers' decisions say about the checks: overturn rates and threshold suggestions.

Pure arithmetic, no Django: ``review.selectors.calibration_decisions`` reads the decisions,
``manage.py guardrails_report`` and the console's usage page print what this module computes.
Suggestions only: a person changes thresholds (``TOXICITY_THRESHOLDS``, the pattern library).

A review item's reasons say which check, label (for patterns: the pattern's name) and score
held or flagged the reply. A decision ``approved`` or ``edited`` *overturns* the hold (the text
was fine, or fine once edited); ``rejected`` *confirms* it. Every reason of an item shares its
item's decision.

Reviewers only ever see text that a check held, so their decisions can only tell that a
threshold should go *up*: the suggestion is the lowest score at which the holds that would
remain reach the chosen precision. An ``evaluate_guardrails`` report (labelled texts, held or
not) can say either way; its sweep gives the lowest threshold whose toxicity-only precision
reaches the target.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OVERTURNING = frozenset({"approved", "edited"})
CONFIRMING = frozenset({"rejected"})


@dataclass(frozen=True, slots=True)
class ReasonDecision:
    """One reason of one review item, with the item's decision (``""`` while undecided)."""

    check: str
    label: str
    score: float
    decision: str


@dataclass(frozen=True, slots=True)
class CheckRow:
    """Holds of one check and label over the period, and what reviewers made of them."""

    check: str
    label: str
    holds: int
    overturned: int
    confirmed: int

    @property
    def decided(self) -> int:
        return self.overturned + self.confirmed

    @property
    def pending(self) -> int:
        return self.holds - self.decided

    @property
    def overturn_rate(self) -> float | None:
        """Overturned among decided (None before any decision)."""
        return self.overturned / self.decided if self.decided else None


@dataclass(frozen=True, slots=True)
class ThresholdSuggestion:
    """For ``label``: keep holds scoring at least ``threshold`` to reach ``precision`` (≥ target).

    ``source`` is ``"reviewers"`` or the evaluation report's name; ``kept``/``support``: the
    holds (or held texts) that would remain, and all of them at the lowest threshold seen.
    ``threshold`` is None when no threshold reaches the target.
    """

    source: str
    label: str
    target: float
    threshold: float | None
    precision: float | None
    kept: int
    support: int


def check_rows(decisions: Iterable[ReasonDecision]) -> list[CheckRow]:
    """Per (check, label): holds, overturned, confirmed; most overturned first."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for d in decisions:
        row = counts[(d.check, d.label)]
        row[0] += 1
        if d.decision in OVERTURNING:
            row[1] += 1
        elif d.decision in CONFIRMING:
            row[2] += 1
    rows = [CheckRow(check, label, *n) for (check, label), n in counts.items()]
    return sorted(rows, key=lambda r: (-(r.overturn_rate or 0.0), -r.holds, r.check, r.label))


def most_overturned(rows: Sequence[CheckRow], *, min_decided: int = 3, min_rate: float = 0.5) -> list[CheckRow]:
    """Rows reviewers overturn at least ``min_rate`` of the time, over at least ``min_decided``
    decisions: the first candidates for a higher threshold or a narrower pattern."""
    return [r for r in rows if r.decided >= min_decided and (r.overturn_rate or 0.0) >= min_rate]


def threshold_for_precision(
    scored: Iterable[tuple[float, bool]], *, target: float, min_kept: int = 1
) -> tuple[float | None, float | None, int, int]:
    """``(threshold, precision, kept, support)`` from ``(score, confirmed)`` pairs.

    The lowest threshold ``t`` among the scores such that the pairs scoring ``>= t`` (at least
    ``min_kept`` of them) have ``confirmed / kept >= target``. The lowest one keeps the most
    true holds. ``(None, None, 0, n)`` when no threshold reaches the target.
    """
    pairs = sorted(scored, key=lambda p: p[0], reverse=True)
    support = len(pairs)
    best: tuple[float | None, float | None, int] = (None, None, 0)
    confirmed = 0
    # Walk down from the highest score: the set kept at threshold pairs[i][0] is pairs[:i+1]
    # plus any ties, so only the last of a run of equal scores is a candidate.
    for i, (score, positive) in enumerate(pairs):
        confirmed += positive
        if i + 1 < support and pairs[i + 1][0] == score:
            continue
        kept = i + 1
        precision = confirmed / kept
        if kept >= min_kept and precision >= target:
            best = (score, precision, kept)
    return best[0], best[1], best[2], support


def reviewer_suggestions(
    decisions: Iterable[ReasonDecision], *, target: float, check: str = "toxicity", min_kept: int = 1
) -> list[ThresholdSuggestion]:
    """Per label of ``check``: the threshold that keeps ``target`` precision over decided holds."""
    by_label: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for d in decisions:
        if d.check == check and (d.decision in OVERTURNING or d.decision in CONFIRMING):
            by_label[d.label].append((d.score, d.decision in CONFIRMING))
    suggestions = []
    for label in sorted(by_label):
        threshold, precision, kept, support = threshold_for_precision(by_label[label], target=target, min_kept=min_kept)
        suggestions.append(ThresholdSuggestion("reviewers", label, target, threshold, precision, kept, support))
    return suggestions


def report_suggestion(report: Mapping[str, Any], *, target: float, source: str) -> ThresholdSuggestion | None:
    """From an ``evaluate_guardrails --out`` report: the lowest swept threshold whose
    toxicity-only precision reaches ``target`` (one threshold for every toxicity label, as the
    sweep applies it). None when the report has no sweep."""
    rows = report.get("toxicity_sweep") or []
    if not rows:
        return None
    support = max((int(r["toxicity_only"].get("held") or 0) for r in rows), default=0)
    for row in sorted(rows, key=lambda r: float(r["threshold"])):
        figures = row["toxicity_only"]
        precision = figures.get("precision")
        if precision is not None and precision >= target:
            return ThresholdSuggestion(
                source,
                "toxicity (all labels)",
                target,
                float(row["threshold"]),
                precision,
                int(figures["held"]),
                support,
            )
    return ThresholdSuggestion(source, "toxicity (all labels)", target, None, None, 0, support)


def format_calibration(
    rows: Sequence[CheckRow], suggestions: Sequence[ThresholdSuggestion], *, flagged: Sequence[CheckRow] = ()
) -> str:
    """The plain-text report ``guardrails_report`` prints and the console shows."""
    lines = ["Holds and reviewer decisions, per check and label (pattern):"]
    lines.append(f"  {'check':<12} {'label':<32} {'holds':>6} {'overturned':>10} {'confirmed':>9} {'rate':>6}")
    for r in rows:
        rate = "-" if r.overturn_rate is None else f"{r.overturn_rate:.0%}"
        lines.append(f"  {r.check:<12} {r.label:<32} {r.holds:>6} {r.overturned:>10} {r.confirmed:>9} {rate:>6}")
    if not rows:
        lines.append("  (no holds in this period)")
    if flagged:
        lines.append("Overturned most (consider a higher threshold or a narrower pattern):")
        lines.extend(f"  {r.check}:{r.label}: {r.overturned} of {r.decided} overturned" for r in flagged)
    lines.append("Threshold suggestions (a person decides):")
    for s in suggestions:
        if s.threshold is None:
            lines.append(f"  {s.source}: {s.label}: no threshold reaches {s.target:.0%} precision ({s.support} seen)")
        else:
            lines.append(
                f"  {s.source}: {s.label}: >= {s.threshold:.3f} keeps {s.kept} of {s.support} "
                f"at {s.precision:.0%} precision (target {s.target:.0%})"
            )
    if not suggestions:
        lines.append("  (no decided toxicity holds and no evaluation report)")
    return "\n".join(lines)
