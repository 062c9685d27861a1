"""The toxicity check, and a toxicity model behind one micro-batcher (the process's one scorer is
``guardrails.wiring.get_scorer()``)."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Protocol

from guardrails.checks import Verdict
from guardrails.checks.batcher import MicroBatcher
from guardrails.checks.classifiers import ModelInfo, ToxicityClassifier, ToxicityInput

# Where the evaluation collects every window's scores (passing ones too) for its threshold
# sweep: a list set in the task that streams one text; the checks it starts inherit it.
SCORE_LOG: ContextVar[list[dict[str, float]] | None] = ContextVar("toxicity_score_log", default=None)


class Scorer(Protocol):
    """Async scoring of one input; :class:`ToxicityScorer` batches these across streams."""

    info: ModelInfo

    async def score(self, item: ToxicityInput) -> dict[str, float]: ...


class ToxicityScorer:
    """A classifier behind a :class:`MicroBatcher` (one worker thread)."""

    def __init__(self, classifier: ToxicityClassifier, *, max_batch: int, max_wait_s: float) -> None:
        self.classifier = classifier
        self.info = classifier.info
        self.batcher: MicroBatcher[ToxicityInput, dict[str, float]] = MicroBatcher(
            classifier.predict, max_batch=max_batch, max_wait_s=max_wait_s, name="toxicity"
        )

    async def score(self, item: ToxicityInput) -> dict[str, float]:
        return await self.batcher.submit(item)

    def close(self) -> None:
        self.batcher.close()


class ToxicityChecker:
    """Fails a text when any label's score reaches its threshold.

    The model reads context + text (so an insult split across chunks is seen whole); a failing
    verdict's ``span`` is the new text (what would be withheld) and ``detail["window"]`` the
    whole span the model read. Labels without a threshold are reported in ``detail["scores"]``
    only.
    """

    name = "toxicity"

    def __init__(self, scorer: Scorer, *, thresholds: Mapping[str, float]) -> None:
        self.scorer = scorer
        self.thresholds = dict(thresholds)

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        if not text.strip():
            return []
        scores = await self.scorer.score(ToxicityInput(context + text, focus=len(context)))
        log = SCORE_LOG.get()
        if log is not None:
            log.append(scores)
        info = self.scorer.info
        detail = {
            "model": info.name,
            "model_version": info.version,
            "fallback": info.fallback,
            "window": [offset - len(context), offset + len(text)],
            "scores": {label: round(score, 4) for label, score in scores.items()},
        }
        verdicts = []
        for label, score in scores.items():
            threshold = self.thresholds.get(label)
            if threshold is not None and score >= threshold:
                verdicts.append(
                    Verdict(
                        check=self.name,
                        label=label,
                        score=score,
                        span=(offset, offset + len(text)),
                        passed=False,
                        severity="hold",
                        detail={**detail, "threshold": threshold},
                    )
                )
        return verdicts
