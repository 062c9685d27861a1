"""What the readiness endpoint and the console report about moderation."""

from __future__ import annotations

from typing import Any

from guardrails import wiring


def active_toxicity_model() -> dict[str, Any]:
    """``{"name", "version", "source", "fallback"}`` of the toxicity model this process uses.

    Loads the model if start-up has not (raising ``ToxicityModelUnavailable`` when there is
    none and ``TOXICITY_FALLBACK=none``). ``fallback`` is True while alt-profanity-check stands
    in for Detoxify: show it prominently.
    """
    return wiring.get_scorer().info.as_dict()
