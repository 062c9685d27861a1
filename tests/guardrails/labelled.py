"""Run labelled texts through the live moderation stages and count what leaked or was held.

Used by ``test_labelled_sets.py`` (regression gates on the sets in ``data/``) and by
``bench/guard_eval.py`` (figures on ``../shared/eval``). Each text streams as word tokens
through chunking → checks → policy (``hold_rest``), exactly like a reply; the checker is bound
to the row's ``user_texts`` (``CombinedChecker.for_conversation``) as a turn binds it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardrails import pipeline, policy, stages
from guardrails.checks import CombinedChecker
from guardrails.conf import GuardrailsSettings

DATA = Path(__file__).resolve().parent / "data"
OBFUSCATION = ("spacing", "look-alike", "full-width", "invisible", "leetspeak", "repeats")
PATTERN_EVASION = ("refund-paraphrase", "citation", "human-claim", "link", "phone")
UNKNOWABLE = ("threat", "self-harm", "harassment")
COMMITMENTS = frozenset({"refund-or-credit-granted", "account-action-claimed", "guarantee"})


@dataclass(frozen=True, slots=True)
class Outcome:
    held: bool
    shown: str
    reasons: list[tuple[str, str, str]]
    leaked: bool | None  # unsafe rows: did any shown chunk overlap the unsafe span


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as rows:
        return [json.loads(line) for line in rows if line.strip()]


def word_tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


async def moderate(
    text: str,
    checker: CombinedChecker,
    *,
    user_texts: Sequence[str] = (),
    span: Sequence[int] | None = None,
    max_chars: int = 200,
    context_chars: int = 120,
) -> Outcome:
    bound = checker.for_conversation(user_texts) if user_texts else checker

    async def tokens() -> Any:
        for piece in word_tokens(text):
            yield piece

    config = GuardrailsSettings(chunk_max_chars=max_chars, context_chars=context_chars, on_fail="hold_rest")
    stream = stages.compose(tokens(), *pipeline.moderation(config, bound))
    released, reasons, held = [], [], False
    async for item in stream:
        if isinstance(item, policy.Release):
            released.append(item.chunk)
        elif isinstance(item, policy.Hold):
            held = True
            reasons += [(v.check, v.label, str(v.detail.get("match", ""))) for v in item.reasons]
    leaked = None
    if span is not None:
        a, b = span
        leaked = any(c.start < b and a < c.end for c in released)
    return Outcome(held, "".join(c.text for c in released), reasons, leaked)


@dataclass
class Tally:
    rows: int = 0
    held: int = 0
    leaked: int = 0
    examples: list[tuple[str, list[tuple[str, str, str]]]] = field(default_factory=list)

    def rate(self, n: int) -> float:
        return n / self.rows if self.rows else 0.0


async def tally(rows: Iterable[dict[str, Any]], checker: CombinedChecker) -> dict[str, Tally]:
    """Per category: rows, held, leaked (unsafe rows) and up to 5 examples of the failures
    (unsafe: leaked; safe: held)."""
    out: dict[str, Tally] = defaultdict(Tally)
    for row in rows:
        o = await moderate(row["text"], checker, user_texts=row.get("user_texts") or (), span=row.get("span"))
        t = out[row["category"]]
        t.rows += 1
        t.held += o.held
        t.leaked += bool(o.leaked)
        failed = o.leaked if row["label"] == "unsafe" else o.held
        if failed and len(t.examples) < 5:
            t.examples.append((row["text"], o.reasons))
    return dict(out)


def report(title: str, tallies: dict[str, Tally]) -> str:
    lines = [title]
    for category, t in sorted(tallies.items()):
        lines.append(
            f"  {category:<24} rows {t.rows:>4}  held {t.held:>4} ({t.rate(t.held):6.1%})"
            f"  leaked {t.leaked:>4} ({t.rate(t.leaked):6.1%})"
        )
        for text, reasons in t.examples:
            lines.append(f"      e.g. {text[:90]!r} {reasons[:2]}")
    return "\n".join(lines)
