"""Detoxify's real loading path, offline, with tiny locally built checkpoints; the fallback."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guardrails import health, startup, wiring
from guardrails.checks import toxicity
from guardrails.checks.classifiers import (
    DetoxifyClassifier,
    ProfanityCheckClassifier,
    ToxicityInput,
    ToxicityModelUnavailable,
    load_classifier,
)
from tests.guardrails import tiny_detoxify

TEXTS = [
    "Thanks for reaching out!",
    "Your order shipped yesterday and should arrive within five business days, tracking is in the e-mail.",
    "ok",
    "To reset your password, open Settings.",
]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test: loading must be fully local."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module", params=["roberta", "bert"])
def tiny_checkpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_detoxify.write(tmp_path_factory.mktemp(request.param), arch=request.param)


def test_checkpoint_and_local_config_load_through_detoxify_offline(
    tiny_checkpoint: tuple[Path, Path], no_network: None
) -> None:
    checkpoint, config_dir = tiny_checkpoint
    classifier = load_classifier(
        model_type="unbiased", checkpoint=str(checkpoint), config_dir=str(config_dir), fallback="none"
    )
    assert isinstance(classifier, DetoxifyClassifier)
    assert classifier.info.fallback is False and classifier.info.version == checkpoint.stem
    # Detoxify's label renaming applies ("toxic" → "toxicity" in the original checkpoints).
    assert classifier.class_names[:3] == ["toxicity", "severe_toxicity", "obscene"]
    (scores,) = classifier.predict([ToxicityInput("hello")])
    assert set(scores) == set(classifier.class_names) and all(0 <= s <= 1 for s in scores.values())


def test_weights_are_the_checkpoints(tiny_checkpoint: tuple[Path, Path]) -> None:
    import torch

    checkpoint, config_dir = tiny_checkpoint
    saved = torch.load(checkpoint, weights_only=False)["state_dict"]
    classifier = load_classifier(model_type="unbiased", checkpoint=str(checkpoint), config_dir=str(config_dir))
    loaded = classifier.model.state_dict()  # type: ignore[attr-defined]
    assert all(torch.equal(loaded[k], v) for k, v in saved.items() if k in loaded)
    assert set(saved) <= set(loaded) | {k for k in saved if k.endswith("position_ids")}


async def test_batched_scores_equal_one_at_a_time_scores(tiny_checkpoint: tuple[Path, Path]) -> None:
    checkpoint, config_dir = tiny_checkpoint
    classifier = load_classifier(model_type="unbiased", checkpoint=str(checkpoint), config_dir=str(config_dir))
    alone = [classifier.predict([ToxicityInput(t)])[0] for t in TEXTS]
    scorer = toxicity.ToxicityScorer(classifier, max_batch=16, max_wait_s=0.05)
    try:
        together = await asyncio.wait_for(asyncio.gather(*(scorer.score(ToxicityInput(t)) for t in TEXTS)), 30)
        assert scorer.batcher.stats.batches < len(TEXTS)  # they really were batched
    finally:
        scorer.close()
    for a, b in zip(alone, together, strict=True):
        assert a.keys() == b.keys()
        assert all(abs(a[k] - b[k]) < 1e-5 for k in a)


async def test_the_fallback_scores_on_the_event_loop_and_a_model_in_its_thread(
    tiny_checkpoint: tuple[Path, Path],
) -> None:
    """The fallback's fast path costs less than a thread hand-off, so it is batched inline; a
    transformer keeps its worker thread. Both score the same inputs as one at a time."""
    from guardrails.checks.batcher import InlineBatcher, MicroBatcher
    from guardrails.checks.classifiers import ProfanityCheckClassifier

    fallback = ProfanityCheckClassifier("test")
    scorer = toxicity.ToxicityScorer(fallback, max_batch=16, max_wait_s=0.05)
    assert isinstance(scorer.batcher, InlineBatcher)
    together = await asyncio.wait_for(asyncio.gather(*(scorer.score(ToxicityInput(t)) for t in TEXTS)), 30)
    assert together == [fallback.predict([ToxicityInput(t)])[0] for t in TEXTS]
    assert scorer.batcher.stats.batches == 1
    checkpoint, config_dir = tiny_checkpoint
    model = load_classifier(model_type="unbiased", checkpoint=str(checkpoint), config_dir=str(config_dir))
    threaded = toxicity.ToxicityScorer(model, max_batch=16, max_wait_s=0.05)
    assert isinstance(threaded.batcher, MicroBatcher)
    threaded.close()


def test_without_weights_the_fallback_engages_loudly(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    with caplog.at_level(logging.ERROR):
        classifier = load_classifier(model_type="unbiased", checkpoint=str(tmp_path / "missing.ckpt"))
    assert isinstance(classifier, ProfanityCheckClassifier)
    assert classifier.info.fallback and "missing.ckpt" in classifier.info.source
    assert "TOXICITY FALLBACK ACTIVE" in caplog.text
    scores = classifier.predict([ToxicityInput("what a lovely day"), ToxicityInput("you are a fucking idiot")])
    assert scores[0]["profanity"] < 0.5 < scores[1]["profanity"]


def test_fallback_none_is_a_start_up_error(tmp_path: Path) -> None:
    with pytest.raises(ToxicityModelUnavailable, match="TOXICITY_CHECKPOINT"):
        load_classifier(model_type="unbiased", checkpoint=str(tmp_path / "missing.ckpt"), fallback="none")


def test_unknown_model_name_is_explained() -> None:
    with pytest.raises(ValueError, match="original, unbiased"):
        load_classifier(model_type="unbiassed")


@pytest.fixture
def fresh_model() -> Iterator[None]:
    wiring.reset_scorer()
    yield
    wiring.reset_scorer()


def test_start_up_refuses_without_a_model_when_fallback_is_none(
    settings: Any, tmp_path: Path, fresh_model: None
) -> None:
    settings.TOXICITY_CHECKPOINT = str(tmp_path / "missing.ckpt")
    settings.TOXICITY_FALLBACK = "none"
    with pytest.raises(ToxicityModelUnavailable):
        startup.load_models()


def test_health_reports_the_fallback(settings: Any, tmp_path: Path, fresh_model: None) -> None:
    settings.TOXICITY_CHECKPOINT = str(tmp_path / "missing.ckpt")
    settings.TOXICITY_FALLBACK = "profanity_check"
    info = startup.load_models()
    assert info.fallback
    reported = health.active_toxicity_model()
    assert reported["name"] == "alt-profanity-check" and reported["fallback"] is True
    assert reported["source"].startswith("fallback: ")


def test_health_reports_a_loaded_detoxify_model(
    settings: Any, tiny_checkpoint: tuple[Path, Path], fresh_model: None
) -> None:
    checkpoint, config_dir = tiny_checkpoint
    settings.TOXICITY_CHECKPOINT, settings.TOXICITY_CONFIG_DIR = str(checkpoint), str(config_dir)
    settings.TOXICITY_RUNTIME = "torch"  # the ONNX runtime's report: tests/guardrails/test_onnx_runtime.py
    startup.load_models()
    reported = health.active_toxicity_model()
    assert reported == {
        "name": f"detoxify:{checkpoint.stem}",
        "version": checkpoint.stem,
        "source": f"checkpoint {checkpoint}",
        "fallback": False,
    }
    # Loaded once per process: asking again returns the same scorer.
    assert wiring.get_scorer() is wiring.get_scorer()


def test_the_fallbacks_fast_scores_are_sklearns_scores() -> None:
    """The fallback scores without sklearn's per-call overhead, and scores exactly as sklearn does
    (on the public corpora's texts and the disguised set, whatever they hold)."""
    import gzip
    import json

    import numpy as np
    from profanity_check import profanity_check as pc

    from guardrails.checks.classifiers import _linear_tfidf_scorer, word_windows

    root = Path(__file__).resolve().parents[2]
    texts: list[str] = []
    for path in sorted((root / "eval" / "public").glob("*.jsonl.gz")) + sorted(
        (root / "tests" / "guardrails" / "data").glob("*.jsonl*")
    ):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as lines:
            texts += [str(json.loads(line).get("text", "")) for line in lines][:2000]
    assert len(texts) > 1000
    # Whole texts and the four-word windows the fallback actually scores.
    texts += [w for text in texts[::10] for w in word_windows(text)]
    fast = _linear_tfidf_scorer(pc.vectorizer, pc.model)
    assert fast is not None  # the shipped model has the shape the fast path knows
    sklearn = pc.model.predict_proba(pc.vectorizer.transform(texts))[:, 1]
    assert np.abs(np.array(fast(texts)) - sklearn).max() < 1e-9
    # A chunk's score: the best of its windows reaching past the context and of the new text's
    # own windows, cut anywhere (inside a word too), as sklearn scores those windows' strings.
    rng = random.Random(7)
    for text in texts[:3000:3]:
        focus = rng.randrange(len(text) + 1)
        windows = list(dict.fromkeys(word_windows(text, focus) + word_windows(text[focus:])))
        expected = max(pc.model.predict_proba(pc.vectorizer.transform(windows))[:, 1]) if windows else 0.0
        assert abs(fast.windows_max(text, focus) - expected) < 1e-9, (text, focus)
    # Any other vectorizer or model goes through sklearn.
    assert _linear_tfidf_scorer(pc.vectorizer, object()) is None
    assert _linear_tfidf_scorer(object(), pc.model) is None
