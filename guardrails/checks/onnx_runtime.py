"""ONNX Runtime backend for transformer toxicity classifiers (``TOXICITY_RUNTIME=onnx``).

The torch model that :mod:`guardrails.checks.classifiers` loaded is exported once with
``torch.onnx.export`` (the TorchScript exporter: no ``onnxscript`` needed), quantized with
ONNX Runtime's dynamic int8 quantization of the matrix products (weights int8, activations
quantized on the fly) and
kept on disk under ``cache_dir`` by a checksum of the weights, the exporter and the runtime:
a restart with the same checkpoint loads the cached file in a second instead of exporting.

Inference pads each sub-batch only to its own longest text: the batch is sorted by token
length and cut into runs of similar length, so a 10-token chunk is never padded to the
256 tokens of a long neighbour. One session uses ``threads`` intra-op threads (default: the
CPUs this process may run on) and the batcher's one worker thread calls it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

ONNX_OPSET = 17
# Only the matrix products are int8 (they are the compute). Quantizing the embedding lookups
# (Gather) too moved a roberta-base model's scores by up to 0.14 from torch's; MatMul alone
# stays within 0.006 (bench/moderation.py prints the difference) at the same speed.
QUANTIZED_OPS = ["MatMul"]
# Graph fusions left out. ONNX Runtime's CPU SkipLayerNormalization took 2.6 ms a node where the
# Add + LayerNormalization it replaces take 0.4 (roberta-base int8, 8 x 64 tokens, one thread,
# ORT 1.32 profile): without it bench.moderation's saturated chunks/s rose 9 % (median of three
# interleaved rounds, 55.0 against 50.5), scores unchanged within the tolerance.
UNFUSED = ("SkipLayerNormFusion",)
# Padding budget for a sub-batch: its padded size may exceed its real tokens by this factor.
_PAD_SLACK = 1.25
_MAX_SUB_BATCH = 16


def default_threads() -> int:
    """The CPUs this process may use (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def weights_checksum(model: Any) -> str:
    """sha256 (16 hex digits) over the model's parameter and buffer names, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_key(model: Any, *, quantize: bool) -> str:
    import onnxruntime
    import torch

    recipe = f"eager-int8-{'+'.join(QUANTIZED_OPS)}" if quantize else "eager-fp32"
    versions = f"torch{torch.__version__}-ort{onnxruntime.__version__}-opset{ONNX_OPSET}-{recipe}"
    return f"{weights_checksum(model)}-{hashlib.sha256(versions.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """``model`` traced with transformers' plain ("eager") attention, restored afterwards.

    The default, torch's scaled_dot_product_attention, exports its mask handling as a Where and an
    IsNaN over every layer's attention scores; the eager graph adds the mask once. Saturated
    chunks/s in bench.moderation: 54.1 against 50.4 (median of three interleaved rounds,
    roberta-base int8), scores as close to torch's."""
    setter = getattr(model, "set_attn_implementation", None)
    before = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if setter is None or before in (None, "eager"):
        yield
        return
    setter("eager")
    try:
        yield
    finally:
        setter(before)


def export(model: Any, path: Path, *, quantize: bool) -> None:
    """Write ``model`` (a transformers sequence classifier) as ONNX to ``path`` (atomically)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        ids = torch.ones((2, 8), dtype=torch.long)
        # The tracer's warnings (shapes seen as constants) concern branches we never take:
        # every call passes an attention mask.
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings(), eager_attention(model):
            warnings.simplefilter("ignore")
            # The exporter restores the wrapper's training flag afterwards, recursively: a wrapper
            # left in training mode would switch the caller's model's dropout on.
            torch.onnx.export(
                Logits(model).eval(),
                (ids, torch.ones_like(ids)),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        final = fp32
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            final = Path(tmp) / "model-int8.onnx"
            quantize_dynamic(str(fp32), str(final), weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS)
        os.replace(final, path)


def length_groups(lengths: Sequence[int], *, max_size: int = _MAX_SUB_BATCH) -> list[list[int]]:
    """Indices of ``lengths`` sorted by length and cut into runs that pad little: a run closes
    when adding the next item would make ``longest * count`` exceed ``_PAD_SLACK`` times the real
    total, or at ``max_size`` items."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i in order:
        n = lengths[i]
        if current and (len(current) >= max_size or n * (len(current) + 1) > _PAD_SLACK * (total + n)):
            groups.append(current)
            current, total = [], 0
        current.append(i)
        total += n
    if current:
        groups.append(current)
    return groups


class OnnxSequenceClassifier:
    """Scores texts with an ONNX Runtime session over an exported transformers classifier.

    Contract as the torch classifiers': ``run(texts)`` returns per-text label → score in 0..1,
    by ``activation`` (``sigmoid`` for Detoxify's independent labels, ``softmax`` otherwise).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        class_names: Sequence[str],
        *,
        max_length: int,
        cache_dir: Path,
        activation: Literal["sigmoid", "softmax"] = "sigmoid",
        threads: int = 0,
        quantize: bool = True,
        disabled: Sequence[str] = UNFUSED,
    ) -> None:
        import onnxruntime

        self.tokenizer = tokenizer
        self.class_names = list(class_names)
        self.max_length = max_length
        self.activation = activation
        self.threads = threads or default_threads()
        started = time.perf_counter()
        self.path = Path(cache_dir) / f"{cache_key(model, quantize=quantize)}.onnx"
        self.reused = self.path.is_file()
        if not self.reused:
            export(model, self.path, quantize=quantize)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Between batches the intra-op threads sleep instead of spinning: they share the CPUs
        # with the event loop, which spinning starves (saturated, 50 streams, 2 cores:
        # bench.moderation 45.9 / 46.8 chunks/s against 45.3 / 41.7 spinning, roberta-base int8).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"], disabled_optimizers=list(disabled)
        )
        log.info(
            "ONNX Runtime classifier %s %s in %.1f s (%d threads)",
            "loaded from cache" if self.reused else "exported and quantized",
            self.path,
            time.perf_counter() - started,
            self.threads,
        )

    def run(self, texts: Sequence[str]) -> list[dict[str, float]]:
        encoded = self.tokenizer(list(texts), truncation=True, padding=False, max_length=self.max_length)
        ids: list[list[int]] = encoded["input_ids"]
        pad_id = int(self.tokenizer.pad_token_id or 0)
        out: list[dict[str, float]] = [{} for _ in texts]
        for group in length_groups([len(x) for x in ids]):
            width = max(len(ids[i]) for i in group)
            input_ids = np.full((len(group), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(group), width), dtype=np.int64)
            for row, i in enumerate(group):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            (logits,) = self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})
            if self.activation == "sigmoid":
                scores = 1.0 / (1.0 + np.exp(-logits))
            else:
                shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
                scores = shifted / shifted.sum(axis=-1, keepdims=True)
            for row, i in enumerate(group):
                out[i] = {name: float(p) for name, p in zip(self.class_names, scores[row], strict=True) if name}
        return out
