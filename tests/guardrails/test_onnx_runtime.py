"""TOXICITY_RUNTIME=onnx: the tiny Detoxify checkpoints exported, int8-quantized and served by
ONNX Runtime score like torch, the export is cached by weights checksum, batches pad little."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guardrails import conf, wiring
from guardrails.checks.classifiers import (
    DetoxifyClassifier,
    OnnxClassifier,
    ToxicityInput,
    load_classifier,
    with_runtime,
)
from guardrails.checks.onnx_runtime import length_groups
from tests.guardrails import tiny_detoxify

TEXTS = [
    "Thanks for reaching out!",
    "Your order shipped yesterday and should arrive within five business days, tracking is in the e-mail.",
    "ok",
    "To reset your password, open Settings, choose Security, then Reset password. " * 3,
    "If anything is missing, reply here with your order number.",
]
TOLERANCE = 0.02  # the bound against torch fp32 (roberta-base-sized: max 0.006 in bench.moderation)


@pytest.fixture(scope="module", params=["roberta", "bert"])
def tiny_checkpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_detoxify.write(tmp_path_factory.mktemp(request.param), arch=request.param)


def load(checkpoint: Path, config_dir: Path, runtime: Any, cache: Path) -> Any:
    return load_classifier(
        model_type="unbiased",
        checkpoint=str(checkpoint),
        config_dir=str(config_dir),
        fallback="none",
        runtime=runtime,
        onnx_cache_dir=cache,
        threads=1,
    )


def test_onnx_scores_are_within_tolerance_of_torch(tiny_checkpoint: tuple[Path, Path], tmp_path: Path) -> None:
    torch_model = load(*tiny_checkpoint, "torch", tmp_path)
    onnx_model = load(*tiny_checkpoint, "onnx", tmp_path)
    assert isinstance(torch_model, DetoxifyClassifier) and isinstance(onnx_model, OnnxClassifier)
    assert onnx_model.info.version == f"{torch_model.info.version}+onnx-int8"
    batch = [ToxicityInput(t) for t in TEXTS]
    expected, got = torch_model.predict(batch), onnx_model.predict(batch)
    for a, b in zip(expected, got, strict=True):
        assert a.keys() == b.keys()
        assert max(abs(a[k] - b[k]) for k in a) <= TOLERANCE


def test_a_batch_scores_as_its_items_do_alone(tiny_checkpoint: tuple[Path, Path], tmp_path: Path) -> None:
    model = load(*tiny_checkpoint, "onnx", tmp_path)
    together = model.predict([ToxicityInput(t) for t in TEXTS])
    alone = [model.predict([ToxicityInput(t)])[0] for t in TEXTS]
    for a, b in zip(alone, together, strict=True):
        # Padding is masked, so neighbours matter only through the int8 activation range that
        # dynamic quantization computes per batch: far below the tolerance against torch.
        assert max(abs(a[k] - b[k]) for k in a) < 2e-3


def test_the_export_is_cached_by_checksum_and_reused(tmp_path: Path) -> None:
    checkpoint, config_dir = tiny_detoxify.write(tmp_path / "a")
    first = load(checkpoint, config_dir, "onnx", tmp_path / "cache")
    assert isinstance(first, OnnxClassifier) and not first.runtime.reused
    written = first.runtime.path.stat().st_mtime_ns
    again = load(checkpoint, config_dir, "onnx", tmp_path / "cache")
    assert isinstance(again, OnnxClassifier) and again.runtime.reused
    assert again.runtime.path == first.runtime.path and again.runtime.path.stat().st_mtime_ns == written
    other_checkpoint, other_config = tiny_detoxify.write(tmp_path / "b", seed=1)
    other = load(other_checkpoint, other_config, "onnx", tmp_path / "cache")
    assert isinstance(other, OnnxClassifier) and not other.runtime.reused
    assert other.runtime.path != first.runtime.path
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        [first.runtime.path.name, other.runtime.path.name]
    )


def test_length_groups_sort_by_length_and_bound_the_padding() -> None:
    lengths = [5, 120, 7, 6, 130, 60, 5, 64, 8, 125]
    groups = length_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    flat = [lengths[i] for g in groups for i in g]
    assert flat == sorted(lengths)
    for group in groups:
        real = sum(lengths[i] for i in group)
        assert max(lengths[i] for i in group) * len(group) <= 1.25 * real
    assert len(length_groups(list(range(1, 100)), max_size=4)[0]) <= 4


def test_the_fallback_and_torch_runtime_are_left_alone() -> None:
    sentinel: Any = object()
    assert with_runtime(sentinel, "onnx", cache_dir="unused") is sentinel
    with pytest.raises(ValueError, match="TOXICITY_RUNTIME"):
        with_runtime(sentinel, "tensorflow", cache_dir="unused")  # type: ignore[arg-type]


def test_settings_choose_the_runtime(settings: Any, tiny_checkpoint: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, config_dir = tiny_checkpoint
    settings.TOXICITY_CHECKPOINT, settings.TOXICITY_CONFIG_DIR = str(checkpoint), str(config_dir)
    settings.TOXICITY_RUNTIME, settings.TOXICITY_ONNX_CACHE, settings.TOXICITY_THREADS = "onnx", str(tmp_path), 1
    wiring.reset_scorer()
    try:
        scorer = wiring.get_scorer()
        assert isinstance(scorer.classifier, OnnxClassifier) and scorer.classifier.runtime.threads == 1
        assert scorer.info.version.endswith("+onnx-int8")
    finally:
        wiring.reset_scorer()
    settings.TOXICITY_RUNTIME = "tensorflow"
    with pytest.raises(ValueError, match="TOXICITY_RUNTIME"):
        conf.load()


def test_exporting_leaves_the_torch_model_as_it_was(tiny_checkpoint: tuple[Path, Path], tmp_path: Path) -> None:
    torch_model = load(*tiny_checkpoint, "torch", tmp_path)
    batch = [ToxicityInput(t) for t in TEXTS]
    before = torch_model.predict(batch)
    attention = torch_model.model.config._attn_implementation
    with_runtime(torch_model, "onnx", cache_dir=tmp_path / "cache", threads=1)
    assert not torch_model.model.training  # no dropout switched on by the exporter
    assert torch_model.model.config._attn_implementation == attention  # traced eager, then given back
    assert torch_model.predict(batch) == before
