"""The check on a user's message, before the LLM is called."""

from __future__ import annotations

from collections.abc import Sequence

from guardrails import conf, wiring
from guardrails.checks import Verdict


async def check_input(text: str) -> list[Verdict]:
    """The verdicts that refuse ``text`` (empty list: send it to the LLM).

    Over ``GUARDRAILS_MAX_INPUT_CHARS`` → one verdict with check ``"length"`` (no model time is
    spent on it). Otherwise toxicity and input-scope patterns; only hold-severity failures
    refuse (a flag-severity input pattern does not).
    """
    limit = conf.load().max_input_chars
    if len(text) > limit:
        return [
            Verdict(
                check="length",
                label="too_long",
                score=float(len(text)),
                span=(0, len(text)),
                passed=False,
                severity="hold",
                detail={"chars": len(text), "max_chars": limit},
            )
        ]
    verdicts = await wiring.get_input_checker().check(text, context="", offset=0)
    return [v for v in verdicts if v.holds]


def plain_reason(verdicts: Sequence[Verdict]) -> str:
    """One plain-English sentence or two telling the user why their message was not sent."""
    if not verdicts:
        return ""
    first = verdicts[0]
    if first.check == "budget":
        used, budget = first.detail.get("used"), first.detail.get("budget")
        return (
            f"You have used today's allowance of {budget} tokens ({used} used); "
            "it renews at midnight UTC. Please come back then."
        )
    if first.check == "length":
        chars, limit = first.detail.get("chars"), first.detail.get("max_chars")
        return (
            f"Your message is too long ({chars} characters; the limit is {limit}). "
            "Please shorten it or split it into parts."
        )
    if any(v.label in ("error", "timeout") for v in verdicts):
        return "We could not check your message just now, so it was not sent. Please try again in a moment."
    if any(v.check == "toxicity" for v in verdicts):
        return (
            "Your message was not sent because it seems to contain abusive or offensive language. Please rephrase it."
        )
    if any(v.label == "prompt-injection" for v in verdicts):
        return "Your message was not sent because it asks the assistant to ignore its instructions."
    return "Your message was not sent because it matches one of our content rules. Please rephrase it."
