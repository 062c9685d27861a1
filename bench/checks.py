"""What the pattern check costs a chunk, on real agent replies, library by library.

Each window is what ``stages.moderate`` hands the check: a sentence-sized chunk (the text after
the first 120 characters, up to 90 more) with the 120 characters before it as context. Texts
are the public CUCOM agent replies (``eval/public``), each window read once, so nothing is
served from the normalization cache that a real chunk would not find there either.

Printed, in one run:

* the pattern check with every seeded library version (the oldest is the baseline: ratios are
  against it), ms a window, p50 / mean / p99, and the slowest rules of the newest version;
* the current library with and without its gates (``guardrails/checks/prefilter.py``) on
  three public corpora, as a ratio;
* the normalized views the checks read (``full`` for phrases, ``light`` for detectors).

Run::

    .venv/bin/python -m bench.checks [--texts 3000]

Not a test: it prints its figures and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any
from unittest import mock

from guardrails import evaluation, library
from guardrails.checks import prefilter
from guardrails.checks.detectors import DetectorConfig
from guardrails.checks.patterns import PatternRules, PatternsChecker, find_in, rules_from_mappings
from guardrails.normalize import normalize

PUBLIC = Path(__file__).resolve().parents[1] / "eval" / "public"
CONTEXT, CHUNK = 120, 90
VERSIONS = {"v1": library.SEED_V1, "v2": library.SEED_V2, "v3": library.SEED_V3, "v4": library.SEED_V4}


CORPORA = {
    "CUCOM agent replies": "cucom-agent-replies-dev.jsonl.gz",
    "SGD system replies": "sgd-system-replies-dev.jsonl.gz",
    "OpenAI moderation": "openai-moderation-dev.jsonl.gz",
}


def windows(limit: int, corpus: str = "cucom-agent-replies-dev.jsonl.gz") -> list[tuple[str, str]]:
    rows = evaluation.read_labelled(PUBLIC / corpus)
    long_enough = [r.text for r in rows if len(r.text) > CONTEXT + 20]
    return [(t[:CONTEXT], t[CONTEXT : CONTEXT + CHUNK]) for t in long_enough[:limit]]


def rules_of(seed: tuple[dict[str, Any], ...]) -> PatternRules:
    rows = [{**row, "id": i, "version": 1, "enabled": True} for i, row in enumerate(seed)]
    return rules_from_mappings(rows, stamp=1)


def checker(seed: tuple[dict[str, Any], ...]) -> PatternsChecker:
    return PatternsChecker(rules_of(seed), detectors=DetectorConfig())


def time_checks(check: PatternsChecker, items: list[tuple[str, str]]) -> list[float]:
    async def run() -> list[float]:
        out = []
        for context, text in items:
            normalize.cache_clear()  # each window is new text to the check, as in a stream
            started = time.perf_counter()
            await check.check(text, context=context, offset=len(context))
            out.append((time.perf_counter() - started) * 1e3)
        return out

    return asyncio.run(run())


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):6.3f} / {statistics.fmean(ordered):6.3f} / {p99:6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=3000)
    args = parser.parse_args()
    items = windows(args.texts)
    mean_chars = statistics.fmean(len(c) + len(t) for c, t in items)
    print(f"pattern check: {len(items)} CUCOM agent-reply windows, {mean_chars:.0f} characters on average")
    print("library   ms a window p50 / mean / p99   mean vs v1")
    baseline = None
    for name, seed in VERSIONS.items():
        check = checker(seed)
        time_checks(check, items[:50])  # compile and warm
        mean = statistics.fmean(costs := time_checks(check, items))
        baseline = baseline or mean
        print(f"{name:8}  {summary(costs)}          {mean / baseline:5.2f}x")

    newest = checker(library.SEED)
    active = newest._compiled(rules_of(library.SEED))  # the rules as the check runs them
    per_rule = []
    for rule, find in active:
        started = time.perf_counter()
        for context, text in items:
            find_in(find, rule.kind, context + text, newest.detectors)
        per_rule.append(((time.perf_counter() - started) / len(items) * 1e3, rule.name))
    print("slowest rules of the current library (ms a window, normalized views cached):")
    for ms, name in sorted(per_rule, reverse=True)[:5]:
        print(f"  {ms:6.3f}  {name}")

    # The gates (guardrails/checks/prefilter.py) against the same rules without them, same run.
    print("current library with and without its gates (ms a window, mean; ratio gated / not):")
    for label, corpus in CORPORA.items():
        texts = windows(args.texts, corpus)
        gated = checker(library.SEED)
        time_checks(gated, texts[:50])
        with_gates = statistics.fmean(time_checks(gated, texts))
        with mock.patch.object(prefilter, "gate", lambda expression: None):
            ungated = checker(library.SEED)
            time_checks(ungated, texts[:50])
            without = statistics.fmean(time_checks(ungated, texts))
        print(
            f"  {label:20} ({len(texts):4} windows)  {without:6.3f} -> {with_gates:6.3f}  {with_gates / without:5.2f}x"
        )

    for level in ("full", "light"):
        normalize.cache_clear()
        started = time.perf_counter()
        for context, text in items:
            normalize(context + text, level)
        ms = (time.perf_counter() - started) / len(items) * 1e3
        print(f"normalized view '{level}': {ms:.3f} ms a window")


if __name__ == "__main__":
    main()
