"""A benign support-conversation set: nothing may be held. Prints the false-hold rate."""

from __future__ import annotations

from typing import Any

from guardrails import policy
from tests.guardrails.benign_replies import REPLIES
from tests.guardrails.conftest import run_reply

# The fallback model (alt-profanity-check, a bag-of-words SVM) scores "hate" as abuse:
# "I would hate for you ..." reaches 0.91. Detoxify reads the sentence and does not. Known,
# reported, and limited to the fallback; any other hold fails the test.
KNOWN_FALLBACK_FALSE_HOLDS = {r for r in REPLIES if r.startswith("I would hate for you")}


def test_corpus_is_big_enough() -> None:
    assert len(REPLIES) >= 50


async def test_no_benign_reply_is_held(checker: Any, fallback_scorer: Any, capsys: Any) -> None:
    held: dict[str, list[tuple[str, str, str]]] = {}
    flagged = 0
    for reply in REPLIES:
        words = reply.split(" ")
        out = await run_reply([w + " " for w in words[:-1]] + [words[-1]], checker)
        holds = [o for o in out if isinstance(o, policy.Hold)]
        flagged += any(o.flagged_by for o in out if isinstance(o, policy.Release))
        if holds:
            held[reply] = [(v.check, v.label, str(v.detail.get("match", ""))) for h in holds for v in h.reasons]
    with capsys.disabled():
        print(
            f"\nbenign replies: {len(REPLIES)}, held: {len(held)} ({len(held) / len(REPLIES):.1%}), "
            f"flagged: {flagged}, model: {fallback_scorer.info.name}"
        )
        for reply, reasons in held.items():
            print(f"  held: {reply[:60]!r} {reasons}")
    expected = KNOWN_FALLBACK_FALSE_HOLDS if fallback_scorer.info.fallback else set()
    assert set(held) <= expected
