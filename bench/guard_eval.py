"""Quick figures for the moderation checks on ../shared/eval (development halves) and the
labelled sets in tests/guardrails/data, with the fallback toxicity model, through the live
stages (tests/guardrails/labelled.py). The real command is ``manage.py evaluate_guardrails``.

  CUCOM agent replies: held rate, and held for reasons other than a commitment
  HateCheck, OpenAI moderation: recall / precision of "held" against the gold label
  Checks' CPU per chunk (checker.check on a 200-character chunk with 120 characters of context)

Usage: python bench/guard_eval.py [--limit N] [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.django_setup  # noqa: F401  (first: the test fixtures it reuses import Django models)
from guardrails.checks import CombinedChecker
from guardrails.checks.classifiers import ProfanityCheckClassifier
from guardrails.checks.patterns import rules_from_mappings
from guardrails.checks.toxicity import ToxicityScorer
from guardrails.library import SEED
from tests.guardrails import labelled
from tests.guardrails.benign_replies import REPLIES
from tests.guardrails.conftest import make_checker


def cucom(folder: Path, limit: int) -> list[tuple[str, list[str]]]:
    """Agent replies with the user's earlier messages in the same conversation."""
    out: list[tuple[str, list[str]]] = []
    with gzip.open(folder / "cucom-ecommerce-dev.jsonl.gz", "rt", encoding="utf-8") as rows:
        for line in rows:
            users: list[str] = []
            for turn in json.loads(line)["turns"]:
                if turn["role"].lower() == "user":
                    users.append(turn["content"])
                else:
                    out.append((turn["content"], list(users)))
    return out[:limit] if limit else out


async def held_counts(texts: list[tuple[str, bool]], checker: CombinedChecker) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for text, unsafe in texts:
        held = (await labelled.moderate(text, checker)).held
        tp += held and unsafe
        fp += held and not unsafe
        fn += (not held) and unsafe
        tn += (not held) and not unsafe
    return tp, fp, fn, tn


def prf(name: str, counts: tuple[int, int, int, int]) -> str:
    tp, fp, fn, tn = counts
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return f"{name}: rows {tp + fp + fn + tn}, recall {recall:.1%}, precision {precision:.1%} (tp {tp} fp {fp} fn {fn})"


async def cpu_per_chunk(checker: CombinedChecker) -> float:
    text = " ".join(REPLIES)
    chunks = [(text[i + 120 : i + 320], text[i : i + 120]) for i in range(0, len(text) - 320, 200)]
    start = time.process_time()
    n = 0
    for _ in range(5):
        for chunk, context in chunks:
            # A fresh string each time so normalization's cache does not flatter the figure.
            await checker.check(chunk + " ", context=context, offset=120)
            n += 1
    return (time.process_time() - start) / n * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--eval-dir", default="../shared/eval")
    args = parser.parse_args()
    folder = Path(args.eval_dir)
    scorer = ToxicityScorer(ProfanityCheckClassifier("bench"), max_batch=64, max_wait_s=0.002)
    checker = make_checker(scorer, rules_from_mappings({**r, "id": n} for n, r in enumerate(SEED)))

    print(f"checks' CPU per chunk: {await cpu_per_chunk(checker):.2f} ms")

    replies = cucom(folder, args.limit)
    reasons: Counter[str] = Counter()
    held = other = 0
    examples: list[str] = []
    for text, users in replies:
        outcome = await labelled.moderate(text, checker, user_texts=users)
        if not outcome.held:
            continue
        held += 1
        labels = {label for _, label, _ in outcome.reasons}
        reasons.update(labels)
        if labels - labelled.COMMITMENTS:
            other += 1
            if len(examples) < 25:
                examples.append(f"    {text[:110]!r} {sorted(outcome.reasons)[:2]}")
    n = len(replies)
    print(f"CUCOM agent replies: {n}, held {held} ({held / n:.2%}), held for other reasons {other} ({other / n:.2%})")
    print(f"  reasons: {dict(reasons.most_common())}")
    print("\n".join(examples))

    with (folder / "hatecheck-dev.csv").open(encoding="utf-8") as rows:
        hate = [(r["test_case"], r["label_gold"] == "hateful") for r in csv.DictReader(rows)]
    print(prf("HateCheck", await held_counts(hate[: args.limit or None], checker)))

    with (folder / "openai-moderation-dev.jsonl").open(encoding="utf-8") as rows:
        records = [json.loads(line) for line in rows if line.strip()]
    openai = [(r["prompt"], any(v == 1 for k, v in r.items() if k != "prompt")) for r in records]
    print(prf("OpenAI moderation", await held_counts(openai[: args.limit or None], checker)))
    scorer.close()


if __name__ == "__main__":
    asyncio.run(main())
