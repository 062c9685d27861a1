"""Build Detoxify-format checkpoints locally (no network): a config/tokenizer folder and a
``{"config", "state_dict"}`` dict shaped like Detoxify's released checkpoints, with random
weights. ``size="tiny"`` for tests, ``size="base"`` for roberta-base-sized benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import transformers
from tokenizers import ByteLevelBPETokenizer

# Detoxify's "unbiased" checkpoint: 7 toxicity labels + 9 identity-mention outputs.
UNBIASED_CLASSES = [
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
    "male",
    "female",
    "homosexual_gay_or_lesbian",
    "christian",
    "jewish",
    "muslim",
    "black",
    "white",
    "psychiatric_or_mental_illness",
]
# Detoxify's "original" checkpoint uses the Jigsaw names, which Detoxify renames on load.
ORIGINAL_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]

_CORPUS = [
    "Thanks for reaching out! Your order shipped yesterday and should arrive within five business days.",
    "You can track the parcel from the Orders page; the tracking number is in your confirmation e-mail.",
    "If anything is missing, reply here with your order number and we will look into it.",
    "To reset your password, open Settings, choose Security, then Reset password.",
]


def _roberta_tokenizer(folder: Path, corpus: list[str], vocab_size: int) -> Any:
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        corpus, vocab_size=vocab_size, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    )
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    # transformers annotates merges as list[str]; the tokenizers BPE it builds takes (a, b) pairs.
    tokenizer = transformers.RobertaTokenizer(vocab=model["vocab"], merges=merges)  # type: ignore[arg-type]
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def _bert_tokenizer(folder: Path, corpus: list[str]) -> Any:
    chars = sorted({ch for text in corpus for ch in text.lower()} | set("abcdefghijklmnopqrstuvwxyz0123456789"))
    words = sorted({w.strip(".,!?;:").lower() for text in corpus for w in text.split()} - {""})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *[f"##{c}" for c in chars], *words]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    tokenizer = transformers.BertTokenizer(vocab=vocab)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def build(
    folder: Path,
    *,
    arch: str = "roberta",
    size: str = "tiny",
    corpus: list[str] | None = None,
    vocab_size: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the config/tokenizer folder into ``folder``; return the checkpoint dict."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = corpus or _CORPUS
    torch.manual_seed(seed)
    config: transformers.PretrainedConfig
    model: transformers.PreTrainedModel
    if arch == "roberta":
        tokenizer = _roberta_tokenizer(folder, corpus, vocab_size)
        classes = UNBIASED_CLASSES
        dims: dict[str, Any] = (
            {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
            if size == "tiny"
            else {}  # RobertaConfig's defaults are roberta-base's sizes
        )
        config = transformers.RobertaConfig(
            vocab_size=max(len(tokenizer), 50265 if size == "base" else 0),
            max_position_embeddings=514,
            **dims,
        )
        config.num_labels = len(classes)  # not an __init__ parameter of the typed configs
        model_name, tokenizer_name, model_type = "RobertaForSequenceClassification", "RobertaTokenizer", "roberta-base"
        model = transformers.RobertaForSequenceClassification(config)
    elif arch == "bert":
        tokenizer = _bert_tokenizer(folder, corpus)
        classes = ORIGINAL_CLASSES
        config = transformers.BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        )
        config.num_labels = len(classes)
        model_name, tokenizer_name, model_type = "BertForSequenceClassification", "BertTokenizer", "bert-base-uncased"
        model = transformers.BertForSequenceClassification(config)
    else:
        raise ValueError(arch)
    # Only the base architecture goes in the folder, like a hub config: Detoxify passes
    # num_labels itself when it loads.
    config.num_labels = 2
    config.save_pretrained(str(folder))
    return {
        "config": {
            "arch": {
                "args": {
                    "model_type": model_type,
                    "model_name": model_name,
                    "tokenizer_name": tokenizer_name,
                    "num_classes": len(classes),
                }
            },
            "dataset": {"args": {"classes": classes}},
        },
        "state_dict": model.state_dict(),
    }


def write(folder: Path, **kwargs: Any) -> tuple[Path, Path]:
    """:func:`build` and save the checkpoint; return (checkpoint path, config folder)."""
    config_dir = folder / "hf-config"
    checkpoint = build(config_dir, **kwargs)
    path = folder / "toxic_tiny-0000.ckpt"
    torch.save(checkpoint, path)
    return path, config_dir
