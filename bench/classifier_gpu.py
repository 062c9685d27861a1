"""GPU benchmark: which Detoxify model to serve on a GPU, and in which precision.

Measures, for each of Detoxify's five architectures, the speed of one forward pass over a batch
of moderation-sized inputs on a GPU (``--device cuda``, the default), in fp32 and fp16:

  * original        BertForSequenceClassification, bert-base-uncased sizes, 6 labels
  * unbiased        RobertaForSequenceClassification, roberta-base sizes, 16 labels
  * multilingual    XLMRobertaForSequenceClassification, xlm-roberta-base sizes, 16 labels, vocab 250002
  * original-small  AlbertForSequenceClassification, albert-base-v2 sizes, 6 labels
  * unbiased-small  AlbertForSequenceClassification, albert-base-v2 sizes, 16 labels

The weights are RANDOM: each model is built from a transformers config with the base model's
hyperparameters written out below (nothing is downloaded), so the figures say how fast a model
is, never how well it scores. fp16 is the fp32 model converted with ``.half()``; ``tf32`` (fp32
weights, TF32 matrix products) and ``bf16`` can be asked for with ``--dtypes``.

Inputs look like what the toxicity check scores: a chunk plus its context, 8-64 tokens (drawn
uniformly, seeded). For each batch size a pool of such inputs is sorted by length and cut into
batches, each padded to its own longest input (what a micro-batcher that groups by length does);
the ``pad eff`` column is real tokens / padded tokens. One timed step is what a server does per
batch: copy ids and mask to the device, forward pass, sigmoid, copy the scores back (which waits
for the GPU). Every batch shape is run once as warm-up; then whole passes over the pool are timed
until ``--seconds`` have gone by.

Table columns: chunks/s (inputs scored per second), p50/p95 ms per batch, GPU MiB (peak memory
allocated by torch during the timed passes, weights included) and the ratio of chunks/s to
``unbiased`` fp32 batch 1, measured in the same run (and measured again at the end, so the
spread of the baseline shows). Then the "streams" figure: a 30 tokens/s reply cut into ~12-token
chunks needs 2.5 chunks/s, so a model scoring C chunks/s at batch 64 fp16 keeps up with C / 2.5
concurrent streams. That is a saturated upper bound: a real micro-batcher also waits to fill a
batch, and the p95 per batch must stay well inside the release-delay budget (150 ms).

``--onnx`` also exports ``unbiased`` to ONNX (TorchScript exporter, opset 17) and times it on ONNX
Runtime's CUDA execution provider in fp32, if the installed onnxruntime has that provider
(onnxruntime is then imported; otherwise the script needs only torch, transformers and numpy).

Usage:
    python3 bench/classifier_gpu.py                       # all models, fp32 + fp16, batches 1..128
    python3 bench/classifier_gpu.py --models unbiased,original-small --batches 1,64 --seconds 2
    python3 bench/classifier_gpu.py --dtypes fp32,tf32,fp16,bf16 --onnx
"""

from __future__ import annotations

import argparse
import gc
import importlib
import math
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

MODELS = ["unbiased", "original", "multilingual", "original-small", "unbiased-small"]
DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
BATCHES = [1, 8, 32, 64, 128]
MIN_TOKENS, MAX_TOKENS = 8, 64
TOKENS_PER_S, TOKENS_PER_CHUNK = 30.0, 12.0  # one streamed reply; the new text in one chunk
STREAM_BATCH, STREAM_DTYPE = 64, "fp16"
BASELINE = ("unbiased", "fp32", 1)

# Base-model hyperparameters, as in each model's published config.json.
_BASE = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
_BERT = {
    **_BASE,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "layer_norm_eps": 1e-12,
}
_ROBERTA = {
    **_BERT,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "layer_norm_eps": 1e-5,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
}
_ALBERT = {
    **_BASE,
    "vocab_size": 30000,
    "embedding_size": 128,
    "num_hidden_groups": 1,  # all 12 layers share one set of weights: few parameters, BERT-base compute
    "hidden_act": "gelu_new",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "bos_token_id": 2,
    "eos_token_id": 3,
}


@dataclass(frozen=True)
class Spec:
    config_class: str
    model_class: str
    settings: dict[str, Any]


SPECS = {
    "original": Spec(
        "BertConfig",
        "BertForSequenceClassification",
        {
            **_BERT,
            "vocab_size": 30522,
            "max_position_embeddings": 512,
            "type_vocab_size": 2,
            "pad_token_id": 0,
            "num_labels": 6,
        },
    ),
    "unbiased": Spec(
        "RobertaConfig", "RobertaForSequenceClassification", {**_ROBERTA, "vocab_size": 50265, "num_labels": 16}
    ),
    "multilingual": Spec(
        "XLMRobertaConfig", "XLMRobertaForSequenceClassification", {**_ROBERTA, "vocab_size": 250002, "num_labels": 16}
    ),
    "original-small": Spec("AlbertConfig", "AlbertForSequenceClassification", {**_ALBERT, "num_labels": 6}),
    "unbiased-small": Spec("AlbertConfig", "AlbertForSequenceClassification", {**_ALBERT, "num_labels": 16}),
}


@dataclass(frozen=True)
class Batch:
    ids: torch.Tensor  # on the CPU, as a server holds them after tokenizing
    mask: torch.Tensor
    size: int
    real_tokens: int


@dataclass
class Row:
    model: str
    dtype: str
    batch: int
    chunks_s: float
    p50_ms: float
    p95_ms: float
    mem_mib: float
    pad_eff: float


def build(name: str, device: torch.device) -> Any:
    """A Detoxify-architecture classifier with random weights, in eval mode, on ``device``."""
    spec = SPECS[name]
    config = getattr(transformers, spec.config_class)(**spec.settings)
    torch.set_default_device(device)  # initialise the random weights on the device itself
    try:
        model = getattr(transformers, spec.model_class)(config)
    finally:
        torch.set_default_device("cpu")
    return model.eval()


def make_batches(batch: int, pad_id: int, seed: int) -> list[Batch]:
    """A pool of 8-64-token inputs, sorted by length, cut into ``batch``-sized batches, each padded
    to its longest. The same seed gives every model the same lengths and token ids."""
    rng = np.random.default_rng(seed * 1000 + batch)
    count = batch * max(16, 256 // batch)
    lengths = np.sort(rng.integers(MIN_TOKENS, MAX_TOKENS + 1, size=count))
    batches: list[Batch] = []
    for start in range(0, count, batch):
        group = [int(n) for n in lengths[start : start + batch]]
        longest = max(group)
        ids = torch.full((len(group), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(group), longest), dtype=torch.long)
        for row, n in enumerate(group):
            # 5..29999: ordinary tokens in every vocabulary here (ALBERT's is the smallest).
            ids[row, :n] = torch.from_numpy(rng.integers(5, 30000, size=n))
            mask[row, :n] = 1
        batches.append(Batch(ids, mask, len(group), sum(group)))
    return batches


def score(model: Any, batch: Batch, device: torch.device) -> torch.Tensor:
    """One server step: inputs to the device, forward pass, sigmoid, scores back to the CPU."""
    ids = batch.ids.to(device, non_blocking=True)
    mask = batch.mask.to(device, non_blocking=True)
    logits = model(input_ids=ids, attention_mask=mask).logits
    return torch.sigmoid(logits.float()).cpu()


def timed_passes(step: Any, batches: list[Batch], seconds: float) -> tuple[float, list[float]]:
    """Warm up on every batch shape, then time whole passes over ``batches`` until ``seconds`` have
    gone by: (chunks/s, seconds per batch)."""
    for batch in batches:
        step(batch)
    times: list[float] = []
    items = 0
    start = time.perf_counter()
    while True:
        for batch in batches:
            t0 = time.perf_counter()
            step(batch)
            times.append(time.perf_counter() - t0)
            items += batch.size
        if time.perf_counter() - start >= seconds:
            break
    return items / (time.perf_counter() - start), times


def make_row(name: str, dtype: str, size: int, batches: list[Batch], rate: float, times: list[float]) -> Row:
    padded = sum(b.ids.numel() for b in batches)
    real = sum(b.real_tokens for b in batches)
    ms = np.array(times) * 1000
    p50, p95 = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
    return Row(name, dtype, size, rate, p50, p95, math.nan, real / padded)


def measure(model: Any, name: str, dtype: str, size: int, device: torch.device, seconds: float, seed: int) -> Row:
    batches = make_batches(size, int(SPECS[name].settings["pad_token_id"]), seed)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    torch.set_float32_matmul_precision("high" if dtype == "tf32" else "highest")
    try:
        with torch.inference_mode():
            rate, times = timed_passes(lambda b: score(model, b, device), batches, seconds)
    finally:
        torch.set_float32_matmul_precision("highest")
    row = make_row(name, dtype, size, batches, rate, times)
    if cuda:
        row.mem_mib = torch.cuda.max_memory_allocated(device) / 2**20
    return row


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def fmt_row(row: Row, base: float, runtime: str = "torch") -> str:
    mem = f"{row.mem_mib:>8.0f}" if not math.isnan(row.mem_mib) else f"{'n/a':>8}"
    ratio = f"{row.chunks_s / base:>7.2f}x" if base > 0 else f"{'?':>8}"
    return (
        f"{row.model:<15} {runtime:<7} {row.dtype:<5} {row.batch:>5} {row.chunks_s:>10.1f} "
        f"{row.p50_ms:>8.2f} {row.p95_ms:>8.2f} {mem} {row.pad_eff:>7.2f} {ratio}"
    )


HEADER = (
    f"{'model':<15} {'runtime':<7} {'dtype':<5} {'batch':>5} {'chunks/s':>10} {'p50 ms':>8} {'p95 ms':>8} "
    f"{'GPU MiB':>8} {'pad eff':>7} {'vs base':>8}"
)


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> list[Row]:
    t = time.perf_counter()
    model = build(name, device)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    attention = getattr(model.config, "_attn_implementation", "?")
    print(f"\n{name}: {type(model).__name__}, {params:.1f}M parameters, attention {attention}, ", end="")
    print(f"built in {time.perf_counter() - t:.1f}s")
    rows: list[Row] = []
    # fp32-weight dtypes first; then the model is converted in place, so only one copy is resident.
    for dtype in sorted(args.dtypes, key=lambda d: DTYPES[d] != torch.float32):
        model.to(DTYPES[dtype])
        for size in args.batches:
            row = measure(model, name, dtype, size, device, args.seconds, args.seed)
            print(fmt_row(row, 0.0), flush=True)
            rows.append(row)
    del model
    free(device)
    return rows


def measure_baseline(args: argparse.Namespace, device: torch.device) -> Row:
    model = build(BASELINE[0], device)
    row = measure(model, *BASELINE, device=device, seconds=args.seconds, seed=args.seed)
    del model
    free(device)
    return row


def bench_onnx(args: argparse.Namespace, device: torch.device) -> list[Row]:
    """``unbiased`` exported to ONNX, fp32, on ONNX Runtime's CUDA execution provider."""
    try:
        ort: Any = importlib.import_module("onnxruntime")
    except ImportError:
        print("\n--onnx: onnxruntime is not installed; skipped")
        return []
    providers = ort.get_available_providers()
    print(f"\nonnxruntime {ort.__version__}, providers {providers}")
    if "CUDAExecutionProvider" not in providers:
        print("--onnx: this onnxruntime has no CUDAExecutionProvider (onnxruntime-gpu has it); skipped")
        return []

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    folder = Path(tempfile.mkdtemp(prefix="bench-onnx-gpu-"))
    path = folder / "unbiased-fp32.onnx"
    t = time.perf_counter()
    model = build("unbiased", torch.device("cpu"))
    ids = torch.ones((2, 8), dtype=torch.long)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Logits(model).eval(),
                (ids, torch.ones_like(ids)),
                str(path),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
                opset_version=17,
                dynamo=False,
            )
        index = device.index or 0
        # use_tf32=0: plain fp32 matrix products, comparable with torch's fp32 rows.
        cuda_ep = ("CUDAExecutionProvider", {"device_id": index, "use_tf32": 0})
        session = ort.InferenceSession(str(path), providers=[cuda_ep, "CPUExecutionProvider"])
    except Exception as exc:  # an exporter or provider that fails is a finding, not a crash
        print(f"--onnx: export or session failed: {type(exc).__name__}: {exc}")
        return []
    finally:
        del model
    print(f"exported and loaded in {time.perf_counter() - t:.1f}s; session providers {session.get_providers()}")
    if session.get_providers()[0] != "CUDAExecutionProvider":
        print("--onnx: the session fell back to the CPU; skipped")
        return []

    def step(batch: Batch) -> Any:
        feeds = {"input_ids": batch.ids.numpy(), "attention_mask": batch.mask.numpy()}
        return 1 / (1 + np.exp(-session.run(["logits"], feeds)[0]))

    rows: list[Row] = []
    for size in args.batches:
        batches = make_batches(size, 1, args.seed)
        rate, times = timed_passes(step, batches, args.seconds)
        row = make_row("unbiased", "fp32", size, batches, rate, times)
        print(fmt_row(row, 0.0, "ort-cuda"), flush=True)
        rows.append(row)
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS))
    parser.add_argument("--dtypes", default="fp32,fp16", help="comma-separated, of: " + ", ".join(DTYPES))
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)), help="batch sizes")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per row (at least one pass)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--onnx", action="store_true", help="also time unbiased on ONNX Runtime's CUDA provider, fp32")
    args = parser.parse_args()
    args.models = args.models.split(",")
    args.dtypes = args.dtypes.split(",")
    args.batches = [int(b) for b in args.batches.split(",")]
    for name in args.models:
        if name not in SPECS:
            parser.error(f"unknown model {name!r}")
    for dtype in args.dtypes:
        if dtype not in DTYPES:
            parser.error(f"unknown dtype {dtype!r}")
    return args


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("no CUDA device visible to torch; pass --device cpu to run on the CPU")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        props = torch.cuda.get_device_properties(device)
        print(f"GPU {props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs, ", end="")
        print(f"capability {props.major}.{props.minor}; CUDA {torch.version.cuda}, ", end="")
        print(f"cuDNN {torch.backends.cudnn.version()}")  # type: ignore[no-untyped-call]  # torch leaves it untyped
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, numpy {np.__version__}, ", end="")
    print(f"Python {sys.version.split()[0]}; device {device}; random weights")
    print(f"inputs {MIN_TOKENS}-{MAX_TOKENS} tokens, sorted pool, padded per batch; {args.seconds}s per row")

    rows: list[Row] = []
    covered = BASELINE[0] in args.models and BASELINE[1] in args.dtypes and BASELINE[2] in args.batches
    if not covered:
        print("\nbaseline (unbiased fp32 batch 1):")
        rows.append(measure_baseline(args, device))
        print(fmt_row(rows[-1], 0.0), flush=True)
    print("\n" + HEADER)
    for name in args.models:
        rows.extend(bench_model(name, args, device))
    onnx_rows = bench_onnx(args, device) if args.onnx else []
    repeat = measure_baseline(args, device)

    base = next(r for r in rows if (r.model, r.dtype, r.batch) == BASELINE)
    spread = abs(repeat.chunks_s - base.chunks_s) / base.chunks_s * 100
    print(f"\n=== all rows; vs base = chunks/s / unbiased fp32 batch 1 ({base.chunks_s:.1f} chunks/s) in this run")
    print(f"    baseline measured again at the end: {repeat.chunks_s:.1f} chunks/s ({spread:.1f}% apart)")
    print(HEADER)
    for row in rows:
        print(fmt_row(row, base.chunks_s))
    for row in onnx_rows:
        print(fmt_row(row, base.chunks_s, "ort-cuda"))

    per_stream = TOKENS_PER_S / TOKENS_PER_CHUNK
    picked = [r for r in rows if r.batch == STREAM_BATCH and r.dtype == STREAM_DTYPE]
    if not picked:
        print(f"\n(no streams figure: it needs batch {STREAM_BATCH} {STREAM_DTYPE} in --batches/--dtypes)")
        return
    print(
        f"\n=== streams served at batch {STREAM_BATCH} {STREAM_DTYPE}: {TOKENS_PER_S:.0f} tokens/s per stream, "
        f"~{TOKENS_PER_CHUNK:.0f}-token chunks -> {per_stream:.1f} chunks/s per stream (saturated upper bound)"
    )
    same = next((r for r in picked if r.model == BASELINE[0]), None)
    print(f"{'model':<15} {'chunks/s':>10} {'streams':>8} {'p95 ms':>8} ", end="")
    print(f"{'GPU MiB':>8} {'vs base':>8} {'vs unbiased':>11}")
    for row in picked:
        vs_unbiased = f"{row.chunks_s / same.chunks_s:>10.2f}x" if same else f"{'n/a':>11}"
        print(
            f"{row.model:<15} {row.chunks_s:>10.1f} {row.chunks_s / per_stream:>8.0f} {row.p95_ms:>8.2f} "
            f"{row.mem_mib:>8.0f} {row.chunks_s / base.chunks_s:>7.1f}x {vs_unbiased}"
        )
    print(f"(baseline unbiased fp32 batch 1 serves {base.chunks_s / per_stream:.0f} streams)")


if __name__ == "__main__":
    main()
