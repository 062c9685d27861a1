"""The toxicity check, and a toxicity model behind one micro-batcher (the process's one scorer is
``guardrails.wiring.get_scorer()``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Protocol

import regex

from guardrails.checks import Verdict
from guardrails.checks.batcher import InlineBatcher, MicroBatcher
from guardrails.checks.classifiers import ModelInfo, ToxicityClassifier, ToxicityInput
from guardrails.normalize import Level, Normalized, normalize

# Where the evaluation collects every window's scores (passing ones too) for its threshold
# sweep: a list set in the task that streams one text; the checks it starts inherit it.
SCORE_LOG: ContextVar[list[dict[str, float]] | None] = ContextVar("toxicity_score_log", default=None)


class Scorer(Protocol):
    """Async scoring of one input; :class:`ToxicityScorer` batches these across streams."""

    info: ModelInfo

    async def score(self, item: ToxicityInput) -> dict[str, float]: ...


class ToxicityScorer:
    """A classifier behind a batcher: a :class:`MicroBatcher` (one worker thread), or an
    :class:`InlineBatcher` on the callers' event loop when the classifier says it is cheap
    enough (``runs_inline``: the fallback's linear model, ~0.1 ms an input)."""

    def __init__(self, classifier: ToxicityClassifier, *, max_batch: int, max_wait_s: float) -> None:
        self.classifier = classifier
        self.info = classifier.info
        self.batcher: MicroBatcher[ToxicityInput, dict[str, float]] | InlineBatcher[ToxicityInput, dict[str, float]]
        if getattr(classifier, "runs_inline", False):
            self.batcher = InlineBatcher(classifier.predict, max_batch=max_batch)
        else:
            self.batcher = MicroBatcher(classifier.predict, max_batch=max_batch, max_wait_s=max_wait_s, name="toxicity")

    async def score(self, item: ToxicityInput) -> dict[str, float]:
        return await self.batcher.submit(item)

    def close(self) -> None:
        self.batcher.close()


# Words with a profane and an innocent sense, in the innocent one: names ("Dick's Sporting
# Goods", "Dick Smith"), "sucks up/in" (vacuums, pumps), "asses the" (a common
# misspelling of "assess"). Bag-of-words models such as the fallback cannot tell the senses
# apart; masking them keeps "normalize, then score" from turning support vocabulary into holds.
# Only these exact contexts: the word on its own, or in any other context, is still scored.
_INNOCENT = regex.compile(
    r"(?-i:\b(?:Dick|Cock|Hooker|Fanny|Willy|Butts?|Wang|Cox)(?=['\u2019]s\s+[A-Z]|\s+(?:[A-Z][a-z]|&)))"
    r"|\bsuck(?:s|ed|ing)?(?=\s+(?:up|in|out|away)\b)"
    r"|\basses(?=\s+(?:the|a|an|your|our|their|this|that|these|those|whether|how|if|what|each|all)\b)",
    regex.IGNORECASE | regex.VERSION0,
)


def mask_innocent(text: str) -> str:
    """``text`` with words in an innocent sense (see ``_INNOCENT``) replaced by ``x``es of the
    same length, so offsets do not move."""
    return str(_INNOCENT.sub(lambda m: "x" * len(m.group()), text))


class ToxicityChecker:
    """Fails a text when any label's score reaches its threshold.

    The model reads the text as written and, when it differs, its normalized view
    (:func:`guardrails.normalize.normalize`: look-alikes, spacing, leetspeak... undone); a
    label's score is the higher of the two. Words in an innocent sense (:func:`mask_innocent`)
    are masked first in both views. The model reads context + text (so an insult split across
    chunks is seen whole); a failing verdict's ``span`` is the new text (what would be
    withheld) and ``detail["window"]`` the whole span the model read. Labels without a
    threshold are reported in ``detail["scores"]`` only.
    """

    name = "toxicity"

    def __init__(self, scorer: Scorer, *, thresholds: Mapping[str, float]) -> None:
        self.scorer = scorer
        self.thresholds = dict(thresholds)

    async def check(self, text: str, *, context: str, offset: int) -> list[Verdict]:
        if not text.strip():
            return []
        window = context + text
        inputs = [ToxicityInput(mask_innocent(window), focus=len(context))]
        views: dict[str, Normalized] = {}
        levels: tuple[Level, ...] = ("full", "alt")
        for level in levels:
            view = normalize(window, level)
            if view.changed and all(view.text != seen.text for seen in views.values()):
                views[level] = view
                inputs.append(ToxicityInput(mask_innocent(view.text), focus=view.position(len(context))))
        raw, *normalized = await asyncio.gather(*(self.scorer.score(item) for item in inputs))
        info = self.scorer.info
        detail: dict[str, Any] = {
            "model": info.name,
            "model_version": info.version,
            "fallback": info.fallback,
            "window": [offset - len(context), offset + len(text)],
            "scores": {label: round(score, 4) for label, score in raw.items()},
        }
        scores = dict(raw)
        for (name, view), view_scores in zip(views.items(), normalized, strict=True):
            detail.setdefault("normalized", {})[name] = {
                "text": view.text,
                "scores": {label: round(score, 4) for label, score in view_scores.items()},
            }
            for label, score in view_scores.items():
                scores[label] = max(score, scores.get(label, 0.0))
        log = SCORE_LOG.get()
        if log is not None:
            log.append(scores)
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
