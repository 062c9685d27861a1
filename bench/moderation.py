"""Moderation benchmark: throughput and latency of chunk → checks → policy, with and without
micro-batching, against a raw pass-through baseline in the same run. Prints figures, exits 0.

Models:
  * "detoxify-unbiased-arch": Detoxify's ``unbiased`` architecture (RobertaForSequenceClassification,
    roberta-base sizes, 16 outputs), random weights and a BPE tokenizer built locally, loaded
    through the same Detoxify loader as production. Speed is what matters here, not scores.
  * "fallback": alt-profanity-check, the model this host actually runs without weights.

For each model and 1/10/50/100 concurrent streams of 30 tokens/s, one-at-a-time (batch 1) and
micro-batched (TOXICITY_BATCH_MAX/TOXICITY_BATCH_WAIT_MS defaults) it reports:
  chunks scored per second, p50/p95 delay from a chunk's last token to its release, chunks
  still unreleased when the run ended, and time to first shown text vs the raw stream.
Then the saturated capacity (chunks/s with 50 requests always in flight) for both modes.

With ``--runtimes torch,onnx`` the Detoxify model also runs on ONNX Runtime int8
(``TOXICITY_RUNTIME=onnx``): the script prints the largest score difference from torch fp32 on
the same texts and the saturated chunks/s of each runtime at 50 in flight, as a ratio, then the
ratio again from ``--rounds`` rounds that measure the two in turn (median: the figure to quote).

Usage: python bench/moderation.py [--gen-seconds 4] [--models detoxify,fallback] [--runtimes torch,onnx]
       [--streams 1,10,50,100] [--threads 0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guardrails import chunking, pipeline, policy, stages
from guardrails.checks import CombinedChecker
from guardrails.checks.classifiers import (
    ModelInfo,
    ProfanityCheckClassifier,
    ToxicityClassifier,
    ToxicityInput,
    detoxify_from_loaded,
    with_runtime,
)
from guardrails.checks.detectors import DetectorConfig
from guardrails.checks.patterns import PatternsChecker, rules_from_mappings
from guardrails.checks.toxicity import ToxicityChecker, ToxicityScorer
from guardrails.conf import DEFAULT_THRESHOLDS, GuardrailsSettings
from guardrails.library import SEED
from tests.guardrails import tiny_detoxify
from tests.guardrails.benign_replies import REPLIES

DEFAULTS = GuardrailsSettings()
STREAMS = [1, 10, 50, 100]
RATE = 30.0  # tokens per second per stream
DRAIN_S = 6.0  # after generation ends, how long a run may take to release the rest
# Saturated phases: long enough for several of torch's ~2 s batches of 32 (a 3 s window held one or
# two, and its figure moved with where the window fell).
CAPACITY_S = 10.0
TOKEN = re.compile(r"\S+\s*")


def reply_tokens(seed: int, n_tokens: int) -> list[str]:
    """Benign support text, a different rotation per stream, ``n_tokens`` word-ish tokens."""
    text = " ".join(itertools.islice(itertools.cycle(REPLIES[seed % len(REPLIES) :] + REPLIES), 40))
    return TOKEN.findall(text)[:n_tokens]


async def paced(tokens: list[str], t0: float, times: list[float]) -> Any:
    for i, tok in enumerate(tokens):
        delay = t0 + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        times.append(time.perf_counter())
        yield tok


@dataclass
class Run:
    delays: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    raw_ttft: list[float] = field(default_factory=list)
    expected_chunks: int = 0
    last_done: float = 0.0


async def moderated_stream(tokens: list[str], checker: Any, t0: float, run: Run) -> None:
    times: list[float] = []
    ends = list(itertools.accumulate(len(t) for t in tokens))
    stream = stages.compose(paced(tokens, t0, times), *pipeline.moderation(DEFAULTS, checker))
    first = True
    async for item in stream:
        if isinstance(item, policy.Release | policy.Hold):
            now = time.perf_counter()
            run.delays.append(now - times[bisect.bisect_left(ends, item.chunk.end)])
            run.last_done = max(run.last_done, now)
            if first:
                run.ttft.append(now - t0)
                first = False


async def raw_stream(tokens: list[str], t0: float, run: Run) -> None:
    """The baseline: tokens shown as they come, no moderation."""
    async for _ in paced(tokens, t0, []):
        run.raw_ttft.append(time.perf_counter() - t0)
        break


def count_chunks(tokens: list[str]) -> int:
    text, n = "".join(tokens), 0
    while text:
        point = chunking.split_point(text, DEFAULTS.chunk_max_chars, final=True)
        assert point is not None
        text, n = text[point[0] :], n + 1
    return n


async def scenario(checker: Any, scorer: ToxicityScorer, n_streams: int, gen_s: float) -> tuple[Run, float]:
    n_tokens = int(gen_s * RATE)
    replies = [reply_tokens(i, n_tokens) for i in range(n_streams)]
    run = Run(expected_chunks=sum(count_chunks(r) for r in replies))
    before = scorer.batcher.stats.items
    t0 = time.perf_counter() + 0.05
    tasks = [asyncio.ensure_future(moderated_stream(r, checker, t0, run)) for r in replies]
    tasks += [asyncio.ensure_future(raw_stream(r, t0, run)) for r in replies]
    _, pending = await asyncio.wait(tasks, timeout=gen_s + DRAIN_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    end = run.last_done if not pending else time.perf_counter()
    scored = scorer.batcher.stats.items - before
    await scorer.score(ToxicityInput("drain"))  # abandoned requests are skipped; wait for idle
    return run, scored / max(end - t0, 1e-9)


async def capacity(scorer: ToxicityScorer, in_flight: int, seconds: float) -> float:
    """Chunks/s with ``in_flight`` requests always waiting: the model's saturated throughput."""
    # 260-character chunk+context windows 97 characters apart, over the replies repeated as needed
    # (cut from the replies once, past their ~5,500 characters the windows were empty texts,
    # which cost a model next to nothing and inflated every runtime's figure).
    joined = " ".join(REPLIES)
    text = joined * (1 + (200 * 97 + 260) // len(joined))
    windows = [ToxicityInput(text[i * 97 : i * 97 + 260], focus=120) for i in range(200)]
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        for item in itertools.cycle(windows[k:] + windows[:k]):
            if time.perf_counter() >= stop:
                return
            await scorer.score(item)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(in_flight)))
    return done / (time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_detoxify(device: str) -> ToxicityClassifier:
    folder = Path(tempfile.mkdtemp(prefix="bench-detoxify-"))
    checkpoint = tiny_detoxify.build(folder, size="base", corpus=REPLIES * 3, vocab_size=8000)
    info = ModelInfo("detoxify-unbiased-arch", "random-weights", f"built locally, on {device}", fallback=False)
    return detoxify_from_loaded(checkpoint, config_dir=folder, info=info, device=device)


async def bench_model(name: str, classifier: ToxicityClassifier, gen_s: float) -> dict[tuple[str, int | str], Any]:
    rules = rules_from_mappings({**row, "id": n} for n, row in enumerate(SEED))
    detectors = DetectorConfig(DEFAULTS.allowed_domains, DEFAULTS.allowed_contacts)
    results: dict[tuple[str, int | str], Any] = {}  # (mode, streams or "capacity") -> figures
    print(f"\n=== {name}: {classifier.info.name} ({classifier.info.source})")
    print(
        f"{'streams':>7} {'mode':>8} {'chunks/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'unreleased':>10} "
        f"{'TTFT raw ms':>11} {'TTFT mod ms':>11} {'added ms':>9} {'mean batch':>10}"
    )
    for mode, max_batch in (("single", 1), ("batched", DEFAULTS.toxicity_batch_max)):
        scorer = ToxicityScorer(classifier, max_batch=max_batch, max_wait_s=DEFAULTS.toxicity_batch_wait_ms / 1000)
        checker = CombinedChecker(
            {
                "toxicity": ToxicityChecker(scorer, thresholds=DEFAULT_THRESHOLDS),
                "patterns": PatternsChecker(rules, detectors=detectors),
            },
            timeout=3600,  # measure the model, not the (fail-closed) timeout
        )
        await scorer.score(ToxicityInput("warm up"))
        for n in STREAMS:
            stats_before = (scorer.batcher.stats.batches, scorer.batcher.stats.items)
            run, rate = await scenario(checker, scorer, n, gen_s)
            batches = scorer.batcher.stats.batches - stats_before[0]
            mean_batch = (scorer.batcher.stats.items - stats_before[1]) / batches if batches else 0.0
            unreleased = run.expected_chunks - len(run.delays)
            raw, mod = statistics.median(run.raw_ttft), statistics.median(run.ttft) if run.ttft else float("nan")
            results[(mode, n)] = {"rate": rate, "p50": pct(run.delays, 0.5), "p95": pct(run.delays, 0.95)}
            results[(mode, n)]["unreleased"] = unreleased
            print(
                f"{n:>7} {mode:>8} {rate:>9.1f} {pct(run.delays, 0.5) * 1000:>8.0f} "
                f"{pct(run.delays, 0.95) * 1000:>8.0f} {unreleased:>10} {raw * 1000:>11.1f} {mod * 1000:>11.0f} "
                f"{(mod - raw) * 1000:>9.0f} {mean_batch:>10.1f}"
            )
        results[(mode, "capacity")] = await capacity(scorer, 50, seconds=CAPACITY_S)
        scorer.close()
    single, batched = results[("single", "capacity")], results[("batched", "capacity")]
    print(f"saturated capacity, 50 in flight: single {single:.1f} chunks/s, batched {batched:.1f} chunks/s")
    paced_ratio = results[("batched", 50)]["rate"] / results[("single", 50)]["rate"]
    print(f"batched / single at 50 streams: paced {paced_ratio:.2f}x, saturated {batched / single:.2f}x (target >= 3x)")
    p95 = results[("batched", 50)]["p95"] * 1000
    met = "met" if p95 <= 150 and results[("batched", 50)]["unreleased"] == 0 else "NOT met"
    print(f"p95 release delay at 50 streams, batched: {p95:.0f} ms (target <= 150 ms: {met})")
    return results


async def interleaved(torch_model: ToxicityClassifier, onnx: ToxicityClassifier, rounds: int) -> None:
    """The ratio again, torch and ONNX measured in turn, ``rounds`` times: on a shared (virtual)
    machine the speed a process gets drifts by tens of percent over minutes, and the two phases
    above run minutes apart. The median round is the figure to quote."""
    ratios: list[float] = []
    for n in range(1, rounds + 1):
        rates: dict[str, float] = {}
        for name, model in (("torch", torch_model), ("onnx", onnx)):
            wait_s = DEFAULTS.toxicity_batch_wait_ms / 1000
            scorer = ToxicityScorer(model, max_batch=DEFAULTS.toxicity_batch_max, max_wait_s=wait_s)
            await scorer.score(ToxicityInput("warm up"))
            rates[name] = await capacity(scorer, 50, seconds=CAPACITY_S)
            scorer.close()
        ratios.append(rates["onnx"] / rates["torch"])
        print(f"round {n}: torch {rates['torch']:.1f}, onnx int8 {rates['onnx']:.1f} chunks/s: {ratios[-1]:.2f}x")
    median = statistics.median(ratios)
    print(
        f"ONNX int8 / torch fp32, saturated, 50 in flight, median of {rounds} interleaved rounds: {median:.2f}x "
        f"(target >= 4x: {'met' if median >= 4 else 'NOT met'})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-seconds", type=float, default=4.0, help="seconds of generation per stream")
    parser.add_argument("--models", default="detoxify,fallback")
    parser.add_argument("--device", default="cpu", help="torch device for the Detoxify model (TOXICITY_DEVICE)")
    parser.add_argument("--runtimes", default="torch,onnx", help="TOXICITY_RUNTIME values to compare")
    parser.add_argument("--threads", type=int, default=0, help="TOXICITY_THREADS (0: every CPU)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved torch/ONNX capacity rounds")
    parser.add_argument("--streams", default=",".join(map(str, STREAMS)), help="concurrent streams per scenario")
    args = parser.parse_args()
    STREAMS[:] = [int(n) for n in args.streams.split(",")]
    import os

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, {os.cpu_count()} CPUs; ", end="")
    print(f"Detoxify model on {args.device}; {RATE:.0f} tokens/s per stream;")
    print(f"chunk cap {DEFAULTS.chunk_max_chars}, context {DEFAULTS.context_chars} chars; batch max ", end="")
    print(f"{DEFAULTS.toxicity_batch_max}, wait {DEFAULTS.toxicity_batch_wait_ms} ms; {args.gen_seconds}s per stream")
    started = time.perf_counter()
    if "fallback" in args.models:
        await bench_model("fallback", ProfanityCheckClassifier("benchmark"), args.gen_seconds)
    if "detoxify" in args.models:
        t = time.perf_counter()
        classifier = build_detoxify(args.device)
        params = sum(p.numel() for p in classifier.model.parameters()) / 1e6  # type: ignore[attr-defined]
        print(f"\nbuilt roberta-base-sized Detoxify model ({params:.1f}M parameters) in {time.perf_counter() - t:.1f}s")
        runtimes = args.runtimes.split(",")
        saturated: dict[str, float] = {}
        onnx: ToxicityClassifier | None = None
        if "onnx" in runtimes:
            t = time.perf_counter()
            cache = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
            onnx = with_runtime(classifier, "onnx", cache_dir=cache, threads=args.threads)
            print(f"exported + quantized to ONNX int8 in {time.perf_counter() - t:.1f}s: {onnx.info.source}")
            windows = [ToxicityInput(" ".join(REPLIES)[i * 53 : i * 53 + 40 + (i * 37) % 260]) for i in range(64)]
            expected, got = classifier.predict(windows), onnx.predict(windows)
            diffs = [abs(a[k] - b[k]) for a, b in zip(expected, got, strict=True) for k in a]
            print(
                f"scores, ONNX int8 vs torch fp32 on {len(windows)} texts x {len(expected[0])} labels: max |diff| "
                f"{max(diffs):.4f}, mean {statistics.mean(diffs):.4f} (target <= 0.02: "
                f"{'met' if max(diffs) <= 0.02 else 'NOT met'})"
            )
        for runtime in runtimes:
            model = onnx if runtime == "onnx" and onnx is not None else classifier
            results = await bench_model(f"detoxify ({runtime})", model, args.gen_seconds)
            saturated[runtime] = results[("batched", "capacity")]
        if "torch" in saturated and "onnx" in saturated and onnx is not None:
            ratio = saturated["onnx"] / saturated["torch"]
            print(
                f"\nsaturated chunks/s at 50 in flight, batched: torch {saturated['torch']:.1f}, onnx int8 "
                f"{saturated['onnx']:.1f}: {ratio:.2f}x"
            )
            await interleaved(classifier, onnx, args.rounds)
    print(f"\ntotal {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    import os
    import sys

    asyncio.run(main())
    sys.stdout.flush()
    # The saturated runs leave inference threads mid-batch (work nobody awaits any more); a
    # normal interpreter exit tears torch down under them and aborts. The figures are out: leave.
    os._exit(0)
