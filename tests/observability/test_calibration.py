"""Calibration arithmetic on a fixture of reviewer decisions (guardrails.calibration, no Django)."""

from __future__ import annotations

from typing import Any

import pytest

from guardrails.calibration import (
    ReasonDecision,
    check_rows,
    format_calibration,
    most_overturned,
    report_suggestion,
    reviewer_suggestions,
    threshold_for_precision,
)

D = ReasonDecision
DECISIONS = [
    # insult: reviewers overturn the low scores and confirm the high ones.
    D("toxicity", "insult", 0.55, "approved"),
    D("toxicity", "insult", 0.60, "edited"),
    D("toxicity", "insult", 0.70, "rejected"),
    D("toxicity", "insult", 0.80, "approved"),
    D("toxicity", "insult", 0.90, "rejected"),
    D("toxicity", "insult", 0.95, "rejected"),
    D("toxicity", "insult", 0.97, ""),  # pending: a hold, not a decision
    # a pattern reviewers overturn nearly always, and one they confirm.
    D("patterns", "unsupported-refund", 1.0, "approved"),
    D("patterns", "unsupported-refund", 1.0, "approved"),
    D("patterns", "unsupported-refund", 1.0, "edited"),
    D("patterns", "unsupported-refund", 1.0, "rejected"),
    D("patterns", "invented-phone-number", 1.0, "rejected"),
    D("patterns", "invented-phone-number", 1.0, "rejected"),
    D("patterns", "invented-phone-number", 1.0, "rejected"),
]


def test_holds_overturned_and_confirmed_per_check_and_label():
    rows = {(r.check, r.label): r for r in check_rows(DECISIONS)}
    insult = rows[("toxicity", "insult")]
    assert (insult.holds, insult.overturned, insult.confirmed, insult.pending) == (7, 3, 3, 1)
    assert insult.overturn_rate == pytest.approx(0.5)
    refund = rows[("patterns", "unsupported-refund")]
    assert (refund.holds, refund.overturned, refund.confirmed) == (4, 3, 1)
    phone = rows[("patterns", "invented-phone-number")]
    assert phone.overturn_rate == 0.0
    # Most overturned first.
    first = check_rows(DECISIONS)[0]
    assert (first.check, first.label) == ("patterns", "unsupported-refund")
    flagged = most_overturned(check_rows(DECISIONS), min_decided=3, min_rate=0.6)
    assert [(r.check, r.label) for r in flagged] == [("patterns", "unsupported-refund")]


def test_the_lowest_threshold_that_keeps_the_precision():
    # Scores 0.55(F) 0.60(F) 0.70(T) 0.80(F) 0.90(T) 0.95(T): at >= 0.9 precision 2/2; at
    # >= 0.7 precision 3/4 = 0.75; at >= 0.55 3/6 = 0.5.
    scored = [(0.55, False), (0.60, False), (0.70, True), (0.80, False), (0.90, True), (0.95, True)]
    assert threshold_for_precision(scored, target=0.75) == (0.70, 0.75, 4, 6)
    assert threshold_for_precision(scored, target=0.9) == (0.90, 1.0, 2, 6)
    assert threshold_for_precision(scored, target=0.5) == (0.55, 0.5, 6, 6)
    assert threshold_for_precision([(0.9, False)], target=0.5) == (None, None, 0, 1)
    # Ties: a threshold keeps every pair with that score, never half of them.
    assert threshold_for_precision([(0.8, True), (0.8, False), (0.9, True)], target=0.7) == (0.9, 1.0, 1, 3)
    (insult,) = reviewer_suggestions(DECISIONS, target=0.75)
    assert (insult.label, insult.threshold, insult.kept, insult.support) == ("insult", 0.70, 4, 6)


def test_a_suggestion_from_an_evaluation_report_sweep():
    def row(t: float, precision: float | None, held: int) -> dict[str, Any]:
        return {"threshold": t, "toxicity_only": {"precision": precision, "held": held}, "all_checks": {}}

    report = {"toxicity_sweep": [row(0.3, 0.6, 50), row(0.5, 0.85, 30), row(0.7, 0.95, 20)]}
    suggestion = report_suggestion(report, target=0.9, source="eval.json")
    assert suggestion is not None
    assert (suggestion.threshold, suggestion.precision, suggestion.kept, suggestion.support) == (0.7, 0.95, 20, 50)
    assert report_suggestion(report, target=0.99, source="eval.json").threshold is None  # type: ignore[union-attr]
    assert report_suggestion({}, target=0.9, source="x") is None
    text = format_calibration(check_rows(DECISIONS), [suggestion], flagged=most_overturned(check_rows(DECISIONS)))
    assert "unsupported-refund: 3 of 4 overturned" in text and ">= 0.700 keeps 20 of 50" in text
