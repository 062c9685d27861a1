"""TOXICITY_MODEL=hf:/path: any local Hugging Face text-classification model, loaded offline
through transformers' real loading path, with label mapping and thresholds from settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from guardrails import conf, health, startup, wiring
from guardrails.checks import toxicity
from guardrails.checks.classifiers import (
    HFTextClassifier,
    ProfanityCheckClassifier,
    ToxicityInput,
    ToxicityModelUnavailable,
    hf_label_name,
    load_classifier,
)
from tests.guardrails import tiny_detoxify
from tests.guardrails.test_toxicity_models import no_network  # noqa: F401  (fixture)

TEXTS = ["Thanks for reaching out!", "Your order shipped yesterday.", "ok"]


def build_tiny_model(
    folder: Path,
    *,
    labels: list[str],
    multi_label: bool = False,
    bias: list[float] | None = None,
) -> Path:
    """A randomly initialised 2-layer BERT classifier with its tokenizer, saved like a hub model."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = folder / "tok"
    tokenizer = tiny_detoxify._bert_tokenizer(tokenizer_dir, tiny_detoxify._CORPUS)
    tokenizer.save_pretrained(str(folder))
    config = transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(labels)),  # sets num_labels too
        label2id={label: n for n, label in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    if bias is not None:
        with torch.no_grad():
            model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def binary_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("binary"), labels=["LABEL_0", "LABEL_1"])


@pytest.fixture(scope="module")
def multi_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("multi"), labels=["toxic", "Insult", "neutral"], multi_label=True)


def test_a_binary_model_loads_offline_and_really_infers(binary_model: Path, no_network: None) -> None:  # noqa: F811
    classifier = load_classifier(
        model_type=f"hf:{binary_model}", hf_labels={"LABEL_1": "toxicity", "label_0": ""}, fallback="none"
    )
    assert isinstance(classifier, HFTextClassifier)
    assert classifier.activation == "softmax" and classifier.class_names == ["", "toxicity"]
    assert classifier.info.fallback is False and classifier.info.name == f"hf:{binary_model.name}"
    assert len(classifier.info.version) == 12
    scores = classifier.predict([ToxicityInput(t) for t in TEXTS])
    assert [set(s) for s in scores] == [{"toxicity"}] * len(TEXTS)

    # The same numbers as a plain forward pass of the saved model.
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(binary_model)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(binary_model))
    with torch.inference_mode():
        logits = model(**tokenizer(TEXTS[0], return_tensors="pt")).logits
    expected = torch.softmax(logits, dim=-1)[0, 1].item()
    assert abs(scores[0]["toxicity"] - expected) < 1e-5


def test_a_multi_label_model_uses_sigmoid_and_detoxify_names(multi_model: Path) -> None:
    classifier = load_classifier(model_type=f"hf:{multi_model}", fallback="none")
    assert isinstance(classifier, HFTextClassifier)
    assert classifier.activation == "sigmoid"
    assert classifier.class_names == ["toxicity", "insult", "neutral"]
    (scores,) = classifier.predict([ToxicityInput("hello")])
    assert all(0 < s < 1 for s in scores.values())
    assert sum(scores.values()) != pytest.approx(1.0)  # independent labels, not a softmax


def test_activation_can_be_forced(multi_model: Path) -> None:
    classifier = load_classifier(model_type=f"hf:{multi_model}", hf_activation="softmax", fallback="none")
    (scores,) = classifier.predict([ToxicityInput("hello")])
    assert sum(scores.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="TOXICITY_HF_ACTIVATION"):
        load_classifier(model_type=f"hf:{multi_model}", hf_activation="relu")  # type: ignore[arg-type]


def test_label_names() -> None:
    assert hf_label_name("toxic", {}) == "toxicity"
    assert hf_label_name("Identity Hate", {}) == "identity_attack"
    assert hf_label_name("LABEL_1", {"label_1": "toxicity"}) == "toxicity"
    assert hf_label_name("LABEL_0", {"LABEL_0": ""}) == ""


def test_a_missing_folder_falls_back_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        classifier = load_classifier(model_type=f"hf:{tmp_path / 'nothing'}")
    assert isinstance(classifier, ProfanityCheckClassifier)
    assert "TOXICITY FALLBACK ACTIVE" in caplog.text and "cannot catch threats" in caplog.text
    with pytest.raises(ToxicityModelUnavailable, match="TOXICITY_MODEL=hf:"):
        load_classifier(model_type=f"hf:{tmp_path / 'nothing'}", fallback="none")


def test_settings_parse_the_label_map(settings: Any) -> None:
    settings.TOXICITY_HF_LABELS = "LABEL_1=toxicity, LABEL_0="
    settings.TOXICITY_HF_ACTIVATION = "Sigmoid"
    cfg = conf.load()
    assert cfg.toxicity_hf_labels == {"LABEL_1": "toxicity", "LABEL_0": ""}
    assert cfg.toxicity_hf_activation == "sigmoid"
    settings.TOXICITY_HF_LABELS = "oops"
    with pytest.raises(ValueError, match="TOXICITY_HF_LABELS"):
        conf.load()
    settings.TOXICITY_HF_LABELS = ""
    settings.TOXICITY_HF_ACTIVATION = "tanh"
    with pytest.raises(ValueError, match="TOXICITY_HF_ACTIVATION"):
        conf.load()


@pytest.fixture
def fresh_model() -> Iterator[None]:
    wiring.reset_scorer()
    yield
    wiring.reset_scorer()


@pytest.mark.parametrize(("bias", "held"), [([-8.0, 8.0], True), ([8.0, -8.0], False)])
def test_the_process_model_and_thresholds_come_from_settings(
    settings: Any, tmp_path: Path, fresh_model: None, bias: list[float], held: bool
) -> None:
    folder = build_tiny_model(tmp_path / "model", labels=["LABEL_0", "LABEL_1"], bias=bias)
    settings.TOXICITY_MODEL = f"hf:{folder}"
    settings.TOXICITY_HF_LABELS = "LABEL_1=toxicity,LABEL_0="
    settings.TOXICITY_THRESHOLDS = "toxicity=0.9"
    settings.TOXICITY_FALLBACK = "none"
    info = startup.load_models()
    assert info.name == "hf:model" and health.active_toxicity_model()["fallback"] is False

    checker = toxicity.ToxicityChecker(wiring.get_scorer(), thresholds=conf.load().toxicity_thresholds)
    verdicts = asyncio.run(asyncio.wait_for(checker.check("Your order shipped.", context="", offset=0), 30))
    assert bool(verdicts) is held
    if held:
        assert verdicts[0].label == "toxicity" and verdicts[0].detail["model"] == "hf:model"
