"""Process start-up: load the models once, before the first request."""

from __future__ import annotations

import logging

from django.conf import settings

from guardrails import pii, wiring
from guardrails.checks.classifiers import ModelInfo, ToxicityInput

log = logging.getLogger(__name__)


def load_models() -> ModelInfo:
    """Load the toxicity model and run one prediction so the first chunk pays nothing.

    Call from the ASGI entry point after Django is set up. Raises
    :class:`~guardrails.checks.classifiers.ToxicityModelUnavailable` when no Detoxify weights
    can be had and ``TOXICITY_FALLBACK=none``: the process must not start.
    """
    scorer = wiring.get_scorer()
    scorer.classifier.predict([ToxicityInput("Hello, how can I help?")])
    log.info("toxicity model ready: %s %s (%s)", scorer.info.name, scorer.info.version, scorer.info.source)
    if settings.GUARDRAILS_PII == "mask":  # spaCy's import takes seconds: not in a user's turn
        pii.warm_up()
        log.info("personal data masking ready (GUARDRAILS_PII=mask)")
    return scorer.info
