"""Guardrails fixtures: the fallback toxicity model, the seeded library as plain rules, a
checker built from them without Django, and a token-stream helper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest

from guardrails import pipeline, policy, selectors, stages, wiring
from guardrails.checks import CombinedChecker
from guardrails.checks.classifiers import ProfanityCheckClassifier
from guardrails.checks.detectors import DetectorConfig
from guardrails.checks.patterns import PatternRules, PatternsChecker, rules_from_mappings
from guardrails.checks.toxicity import ToxicityChecker, ToxicityScorer
from guardrails.conf import DEFAULT_THRESHOLDS, GuardrailsSettings
from guardrails.library import SEED

ALLOWED_DOMAINS = ("example.com", "example.org")
ALLOWED_CONTACTS = ("support@example.com", "@help.example.com", "+1 800 555 0100")
DETECTORS = DetectorConfig(allowed_domains=ALLOWED_DOMAINS, allowed_contacts=ALLOWED_CONTACTS)


@pytest.fixture(scope="session")
def fallback_scorer() -> Iterator[ToxicityScorer]:
    scorer = ToxicityScorer(ProfanityCheckClassifier("tests"), max_batch=64, max_wait_s=0.002)
    yield scorer
    scorer.close()


@pytest.fixture(scope="session")
def library_rules() -> PatternRules:
    return rules_from_mappings({**row, "id": n + 1} for n, row in enumerate(SEED))


def make_checker(scorer: ToxicityScorer, rules: PatternRules, *, scope: str = "output") -> CombinedChecker:
    return CombinedChecker(
        {
            "toxicity": ToxicityChecker(scorer, thresholds=DEFAULT_THRESHOLDS),
            "patterns": PatternsChecker(rules, scope=scope, detectors=DETECTORS),  # type: ignore[arg-type]
        },
        timeout=10.0,
    )


@pytest.fixture(scope="session")
def checker(fallback_scorer: ToxicityScorer, library_rules: PatternRules) -> CombinedChecker:
    return make_checker(fallback_scorer, library_rules)


async def tokens(pieces: Sequence[Any]) -> AsyncIterator[Any]:
    for piece in pieces:
        yield piece


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in stream]


async def run_reply(
    pieces: Sequence[Any],
    checker: Any,
    *,
    on_fail: str = "hold_rest",
    max_chars: int = 200,
    context_chars: int = 120,
) -> list[Any]:
    """The moderation recipe over ``pieces``; every item the policy yields."""
    config = GuardrailsSettings(chunk_max_chars=max_chars, context_chars=context_chars, on_fail=on_fail)
    return await collect(stages.compose(tokens(pieces), *pipeline.moderation(config, checker)))


def released_text(items: Sequence[Any]) -> str:
    return "".join(item.chunk.text for item in items if isinstance(item, policy.Release))


@pytest.fixture
def fresh_checkers() -> Iterator[None]:
    """Process checkers and the toxicity model rebuilt from this test's settings."""
    wiring.reset_checkers()
    wiring.reset_scorer()
    selectors.forget_pattern_rules()
    yield
    wiring.reset_checkers()
    wiring.reset_scorer()
    selectors.forget_pattern_rules()
