"""Toxicity classifiers and how the process gets one.

Order of preference (``load_classifier``):

0. ``TOXICITY_MODEL=hf:/path``: any local Hugging Face text-classification model (a folder with
   config, tokenizer and weights, e.g. a small distilled toxicity model), labels renamed by
   ``TOXICITY_HF_LABELS``, scores by sigmoid or softmax (``TOXICITY_HF_ACTIVATION``). Offline.
1. ``TOXICITY_CHECKPOINT``: a local Detoxify ``.ckpt`` (``{"config", "state_dict"}``) with
   ``TOXICITY_CONFIG_DIR``, a local Hugging Face folder holding the base model's config and
   tokenizer files. Nothing touches the network.
2. Detoxify's own download of ``TOXICITY_MODEL`` (needs internet, or torch's hub cache plus the
   Hugging Face cache). ``TOXICITY_CONFIG_DIR``, if set, still replaces the hub lookup.
3. Where neither works: the scikit-learn model shipped inside ``alt-profanity-check``, logged
   loudly and reported as ``fallback`` by :func:`guardrails.health.active_toxicity_model` — or,
   with ``TOXICITY_FALLBACK=none``, :class:`ToxicityModelUnavailable` at start-up.

With ``TOXICITY_RUNTIME=onnx`` a loaded transformer model (0-2) is exported to ONNX, quantized
to int8 and served by ONNX Runtime (:mod:`guardrails.checks.onnx_runtime`, cached on disk by
weights checksum); if that fails the torch model serves, logged. ``torch`` keeps it in torch.

Detoxify's loader (``detoxify.detoxify.get_model_and_tokenizer``) always resolves the base
model's config via ``from_pretrained(model_type)`` where ``model_type`` is a hub name stored in
the checkpoint (``"roberta-base"``, ``"bert-base-uncased"``, ...). We keep Detoxify's loader
and rewrite that one field to the local folder, so the hub name never reaches the network.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import logging
import math
import re
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

# Detoxify renames these classes when it loads a checkpoint; we do the same.
_DETOXIFY_RENAMES = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}
_DOWNLOAD_TIMEOUT_S = 30.0


class ToxicityModelUnavailable(RuntimeError):
    """No Detoxify weights could be loaded and the fallback is disabled."""


@dataclass(frozen=True, slots=True)
class ToxicityInput:
    """``text`` to score; the part from ``focus`` on is the new text (before it: context).
    Whole-text models ignore ``focus``; the fallback uses it to score only windows that touch
    the new text."""

    text: str
    focus: int = 0


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    version: str
    source: str
    fallback: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source, "fallback": self.fallback}


class ToxicityClassifier(Protocol):
    info: ModelInfo

    def predict(self, batch: Sequence[ToxicityInput]) -> list[dict[str, float]]:
        """Scores in 0..1 per label, one mapping per input, in order. Runs in one worker thread,
        or on the callers' event loops for a classifier with ``runs_inline`` set (see
        :class:`guardrails.checks.toxicity.ToxicityScorer`)."""
        ...


# --- Detoxify ---------------------------------------------------------------------------


class DetoxifyClassifier:
    """A Detoxify model (any of its architectures) scoring whole texts, batched with padding."""

    def __init__(
        self, model: Any, tokenizer: Any, class_names: Sequence[str], info: ModelInfo, *, device: str = "cpu"
    ) -> None:
        import torch

        self._torch = torch
        self.device = device
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.class_names = list(class_names)
        self.info = info
        positions = getattr(model.config, "max_position_embeddings", 514)
        # RoBERTa-style models reserve positions for padding; BERT does not: 510 fits both.
        self.max_length = min(int(getattr(tokenizer, "model_max_length", 512) or 512), positions - 2, 512)

    def predict(self, batch: Sequence[ToxicityInput]) -> list[dict[str, float]]:
        torch = self._torch
        texts = [item.text for item in batch]
        with torch.inference_mode():
            encoded = self.tokenizer(
                texts, return_tensors="pt", truncation=True, padding=True, max_length=self.max_length
            ).to(self.device)
            logits = self.model(**encoded)[0]
            rows = torch.sigmoid(logits).tolist()
        return [dict(zip(self.class_names, row, strict=True)) for row in rows]


def detoxify_from_loaded(
    loaded: Mapping[str, Any], *, config_dir: str | Path | None, info: ModelInfo, device: str = "cpu"
) -> DetoxifyClassifier:
    """Build from a loaded Detoxify checkpoint dict through Detoxify's own loader.

    With ``config_dir`` the checkpoint's ``model_type`` (a hub name) is replaced by that folder,
    so config and tokenizer come from disk.
    """
    from detoxify import detoxify as dx

    if "config" not in loaded or "state_dict" not in loaded:
        raise ValueError("a Detoxify checkpoint holds 'config' (the training config) and 'state_dict'")
    args = dict(loaded["config"]["arch"]["args"])
    if config_dir:
        folder = Path(config_dir)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"TOXICITY_CONFIG_DIR={folder} has no config.json")
        args["model_type"] = str(folder)
    classes = [_DETOXIFY_RENAMES.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]
    import transformers

    # One model, loaded once: no progress bar in logs.
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers
    with _offline(bool(config_dir)):
        model, tokenizer = dx.get_model_and_tokenizer(**args, state_dict=loaded["state_dict"])
    return DetoxifyClassifier(model, tokenizer, classes, info, device=device)


def detoxify_from_checkpoint(
    checkpoint: str | Path, *, config_dir: str | Path | None, device: str = "cpu"
) -> DetoxifyClassifier:
    import torch

    path = Path(checkpoint)
    loaded = torch.load(path, map_location="cpu", weights_only=False)
    info = ModelInfo(name=f"detoxify:{path.stem}", version=path.stem, source=f"checkpoint {path}", fallback=False)
    return detoxify_from_loaded(loaded, config_dir=config_dir, info=info, device=device)


def detoxify_download(model_type: str, *, config_dir: str | Path | None, device: str = "cpu") -> DetoxifyClassifier:
    import torch
    from detoxify import detoxify as dx

    url = dx.MODEL_URLS[model_type]
    with _socket_timeout(_DOWNLOAD_TIMEOUT_S):
        loaded = torch.hub.load_state_dict_from_url(url, map_location="cpu", weights_only=False)
    version = Path(url).stem
    info = ModelInfo(name=f"detoxify:{model_type}", version=version, source=f"download {url}", fallback=False)
    return detoxify_from_loaded(loaded, config_dir=config_dir, info=info, device=device)


@contextlib.contextmanager
def _offline(enabled: bool) -> Iterator[None]:
    """Refuse Hugging Face hub calls while loading from a local folder (belt and braces)."""
    if not enabled:
        yield
        return
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torch.hub opens URLs without a timeout; a black-holed network would hang start-up.
    saved = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(saved)


# --- Any local Hugging Face text-classification model --------------------------------------

HF_PREFIX = "hf:"
Activation = Literal["auto", "sigmoid", "softmax"]
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def hf_label_name(raw: str, mapping: Mapping[str, str]) -> str:
    """Our name for a model's label: ``mapping`` (by the model's own name, any case) first, then
    Detoxify's renames (``toxic`` → ``toxicity``), else the name lower-cased with ``_``."""
    for key, value in mapping.items():
        if key.lower() == raw.lower():
            return value
    name = re.sub(r"[\s-]+", "_", raw.strip().lower())
    return _DETOXIFY_RENAMES.get(name, name)


class HFTextClassifier:
    """A ``AutoModelForSequenceClassification`` scoring whole texts, batched with padding.

    Scores are per label of the model, renamed (:func:`hf_label_name`); a label renamed to
    ``""`` is dropped. ``activation``: ``sigmoid`` (independent labels, like Detoxify),
    ``softmax`` (one class of several, e.g. ``neutral``/``toxic``), or ``auto``: sigmoid for a
    ``multi_label_classification`` model or a single output, softmax otherwise.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        info: ModelInfo,
        *,
        labels: Mapping[str, str] | None = None,
        activation: Activation = "auto",
        device: str = "cpu",
    ) -> None:
        import torch

        self._torch = torch
        self.device = device
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.info = info
        config = model.config
        if activation == "auto":
            multi = config.problem_type == "multi_label_classification" or config.num_labels == 1
            activation = "sigmoid" if multi else "softmax"
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(f"TOXICITY_HF_ACTIVATION={activation!r}: use auto, sigmoid or softmax")
        self.activation = activation
        id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
        names = [hf_label_name(id2label.get(i, f"LABEL_{i}"), labels or {}) for i in range(config.num_labels)]
        self.class_names = names
        positions = getattr(config, "max_position_embeddings", 512) or 512
        self.max_length = min(int(getattr(tokenizer, "model_max_length", 512) or 512), positions - 2, 512)

    def predict(self, batch: Sequence[ToxicityInput]) -> list[dict[str, float]]:
        torch = self._torch
        texts = [item.text for item in batch]
        with torch.inference_mode():
            encoded = self.tokenizer(
                texts, return_tensors="pt", truncation=True, padding=True, max_length=self.max_length
            ).to(self.device)
            logits = self.model(**encoded).logits
            probabilities = torch.sigmoid(logits) if self.activation == "sigmoid" else torch.softmax(logits, dim=-1)
            rows = probabilities.tolist()
        return [{name: p for name, p in zip(self.class_names, row, strict=True) if name} for row in rows]


def weights_digest(folder: Path) -> str:
    """The first 12 hex digits of the sha256 of the folder's weight file(s): the model version."""
    digest = hashlib.sha256()
    found = False
    for name in _WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            found = True
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
    if not found:
        raise FileNotFoundError(f"{folder} has no {' or '.join(_WEIGHT_FILES)}")
    return digest.hexdigest()[:12]


def hf_from_folder(
    folder: str | Path,
    *,
    labels: Mapping[str, str] | None = None,
    activation: Activation = "auto",
    device: str = "cpu",
) -> HFTextClassifier:
    """Load a local text-classification model; never touches the network."""
    import transformers

    path = Path(folder)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"TOXICITY_MODEL=hf:{path}: no config.json there")
    version = weights_digest(path)
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers
    with _offline(True):
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
    info = ModelInfo(name=f"hf:{path.name}", version=version, source=f"folder {path}", fallback=False)
    return HFTextClassifier(model, tokenizer, info, labels=labels, activation=activation, device=device)


# --- ONNX Runtime ----------------------------------------------------------------------------

Runtime = Literal["torch", "onnx"]


class OnnxClassifier:
    """A loaded torch classifier (Detoxify or local Hugging Face) served by ONNX Runtime, int8.

    ``info.version`` gains ``+onnx-int8`` (scores differ from torch's by up to ~0.02), so a
    reviewer can tell which runtime judged a reply. The torch model is not kept.
    """

    def __init__(self, base: DetoxifyClassifier | HFTextClassifier, *, cache_dir: str | Path, threads: int = 0) -> None:
        from guardrails.checks import onnx_runtime

        activation: Literal["sigmoid", "softmax"] = "sigmoid"
        if isinstance(base, HFTextClassifier) and base.activation == "softmax":
            activation = "softmax"
        self.runtime = onnx_runtime.OnnxSequenceClassifier(
            base.model,
            base.tokenizer,
            base.class_names,
            max_length=base.max_length,
            cache_dir=Path(cache_dir),
            activation=activation,
            threads=threads,
        )
        self.class_names = base.class_names
        source = f"{base.info.source}; ONNX Runtime int8, {self.runtime.threads} threads, {self.runtime.path}"
        self.info = ModelInfo(base.info.name, f"{base.info.version}+onnx-int8", source, fallback=False)

    def predict(self, batch: Sequence[ToxicityInput]) -> list[dict[str, float]]:
        return self.runtime.run([item.text for item in batch])


def with_runtime(
    classifier: ToxicityClassifier, runtime: Runtime, *, cache_dir: str | Path, threads: int = 0, device: str = "cpu"
) -> ToxicityClassifier:
    """``classifier`` served by ``runtime``: ONNX Runtime for a transformer model on the CPU,
    else unchanged. An export that fails leaves the torch model serving, logged."""
    if runtime not in ("torch", "onnx"):
        raise ValueError(f"TOXICITY_RUNTIME={runtime!r}: use torch or onnx")
    if runtime == "torch" or not isinstance(classifier, DetoxifyClassifier | HFTextClassifier):
        if threads:
            import torch

            torch.set_num_threads(threads)
        return classifier
    if device != "cpu":
        log.warning("TOXICITY_RUNTIME=onnx runs on the CPU; TOXICITY_DEVICE=%s keeps the torch model", device)
        return classifier
    try:
        return OnnxClassifier(classifier, cache_dir=cache_dir, threads=threads)
    except Exception:
        log.exception("TOXICITY_RUNTIME=onnx: export or load failed; the torch model serves instead")
        return classifier


# --- Fallback: alt-profanity-check ------------------------------------------------------

_WORD = re.compile(r"\S+")


def word_windows(text: str, focus: int = 0, *, size: int = 4, stride: int = 1) -> list[str]:
    """Overlapping runs of ``size`` words that reach past ``focus``.

    The profanity model is a linear model over TF-IDF of the whole input: one slur in a long
    text gets diluted below any threshold. Scoring short windows and taking the maximum keeps
    its sensitivity independent of chunk and context length. Four words was the best trade on
    the benign corpus and planted profanity (tests/guardrails): longer windows miss slurs next
    to friendly words, shorter ones hold mild words ("kill a process").
    """
    words = list(_WORD.finditer(text))
    spans = window_spans([w.end() for w in words], focus, size=size, stride=stride)
    return [text[words[s].start() : words[e - 1].end()] for s, e in spans]


def window_spans(ends: Sequence[int], focus: int = 0, *, size: int = 4, stride: int = 1) -> list[tuple[int, int]]:
    """:func:`word_windows` as word indexes: ``[start, stop)`` of each window, given where each
    word ends (``ends``, in order)."""
    n = len(ends)
    if not n:
        return []
    starts = list(range(0, max(n - size, 0) + 1, stride))
    if starts[-1] + size < n:
        starts.append(n - size)
    return [(s, min(s + size, n)) for s in starts if ends[min(s + size, n) - 1] > focus]


class ProfanityCheckClassifier:
    """The linear SVM shipped in ``alt-profanity-check``; one label, ``profanity``."""

    #: Cheap enough to score on the event loop (:class:`guardrails.checks.batcher.InlineBatcher`)
    #: when the fast path applies: ~0.1 ms an input, less than a hand-off to a thread.
    runs_inline: bool

    def __init__(self, reason: str) -> None:
        from profanity_check import profanity_check as pc  # loads the two joblib files

        self._fast = _linear_tfidf_scorer(pc.vectorizer, pc.model)
        self.runs_inline = self._fast is not None
        self._score = self._fast or (
            lambda texts: [float(p) for p in pc.model.predict_proba(pc.vectorizer.transform(texts))[:, 1]]
        )
        version = metadata.version("alt-profanity-check")
        self.info = ModelInfo(name="alt-profanity-check", version=version, source=f"fallback: {reason}", fallback=True)

    def predict(self, batch: Sequence[ToxicityInput]) -> list[dict[str, float]]:
        if self._fast is not None:
            return [{"profanity": self._fast.windows_max(item.text, item.focus)} for item in batch]
        pieces: list[str] = []
        owners: list[int] = []
        for n, item in enumerate(batch):
            # Windows across the context boundary catch split phrases; windows of the new text
            # alone keep a short chunk from being diluted by its context.
            windows = dict.fromkeys(word_windows(item.text, item.focus) + word_windows(item.text[item.focus :]))
            for piece in windows:
                pieces.append(piece)
                owners.append(n)
        scores = [0.0] * len(batch)
        if pieces:
            for owner, p in zip(owners, self._score(pieces), strict=True):
                scores[owner] = max(scores[owner], p)
        return [{"profanity": s} for s in scores]


def _linear_tfidf_scorer(vectorizer: Any, model: Any) -> _LinearTfidf | None:
    """``model.predict_proba(vectorizer.transform(texts))[:, 1]`` in plain Python, for the model
    alt-profanity-check ships: word-unigram TF-IDF (l2 norm) into a ``CalibratedClassifierCV`` of
    linear SVMs with sigmoid calibration, binary.

    sklearn's own path validates its input, builds sparse matrices and re-encodes labels on every
    call: about 1 ms for a batch of one to three texts on this machine, whatever their size, which
    at a few streams (batches that small) was a fifth of the app's CPU. A chunk's windows hold a
    handful of known words, so this is a few dozen multiplications: per window, each known word's
    ``count * idf``, the l2 norm, then per fold ``expit(-(a * (x @ coef + intercept) + b))`` and
    the mean over folds, as sklearn does. The tokens come from the vectorizer's own analyzer
    (lowercasing, token pattern, stop words). Checked against sklearn in the tests. Returns None
    for any other vectorizer or model shape, which then goes through sklearn.
    """
    import numpy as np

    folds = getattr(model, "calibrated_classifiers_", None)
    if not folds or getattr(model, "method", None) != "sigmoid" or len(getattr(model, "classes_", ())) != 2:
        return None
    try:
        params = vectorizer.get_params()
        simple = params["analyzer"] == "word" and tuple(params["ngram_range"]) == (1, 1) and not params["binary"]
        if not simple or params["sublinear_tf"] or params["norm"] not in ("l2", None):
            return None
        analyze = vectorizer.build_analyzer()
        vocabulary: Mapping[str, int] = vectorizer.vocabulary_
        idf = np.asarray(vectorizer.idf_, dtype=np.float64) if params["use_idf"] else np.ones(len(vocabulary))
        coef = np.column_stack([np.asarray(f.estimator.coef_, dtype=np.float64).ravel() for f in folds])
        intercept = [float(np.ravel(f.estimator.intercept_)[0]) for f in folds]
        a = [float(f.calibrators[0].a_) for f in folds]
        b = [float(f.calibrators[0].b_) for f in folds]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    if coef.shape != (len(vocabulary), len(folds)) or any(len(f.calibrators) != 1 for f in folds):
        return None
    # Per known word: its idf and its weight in each fold.
    weights = {term: (float(idf[j]), tuple(float(w) for w in coef[j])) for term, j in vocabulary.items()}
    return _LinearTfidf(analyze, weights, list(zip(intercept, a, b, strict=True)), l2=params["norm"] == "l2")


class _LinearTfidf:
    """The fallback's scores, computed as :func:`_linear_tfidf_scorer` says.

    Called with texts, it scores each whole text. :meth:`windows_max` gives what
    :class:`ProfanityCheckClassifier` asks: the highest score of a text's four-word windows
    (:func:`word_windows`), without making the windows' strings. A window's score depends only
    on its known tokens, so it is computed once per token combination (cached): the same
    windows come back in the normalized views and in a chunk checked again with the next one.
    """

    def __init__(
        self,
        analyze: Callable[[str], list[str]],
        weights: Mapping[str, tuple[float, tuple[float, ...]]],
        calibration: list[tuple[float, float, float]],
        *,
        l2: bool,
    ) -> None:
        self._analyze = analyze
        self._weights = weights
        self._calibration = calibration
        self._l2 = l2
        # A token never spans whitespace, so a text's tokens are its words' tokens in turn; the
        # windows of a stream's chunks share most of their words, so each word is analyzed once.
        self.known = functools.lru_cache(maxsize=65536)(self._known)
        self.tokens_score = functools.lru_cache(maxsize=65536)(self._tokens_score)

    def __call__(self, texts: Sequence[str]) -> list[float]:
        return [self.tokens_score(tuple(t for word in text.split() for t in self.known(word))) for text in texts]

    def windows_max(self, text: str, focus: int) -> float:
        """The highest score among ``word_windows(text, focus)`` and ``word_windows(text[focus:])``
        (0.0 when there is no window): what the fallback reports for a chunk and its context."""
        words = list(_WORD.finditer(text))
        ends = [w.end() for w in words]
        tokens = [self.known(w.group()) for w in words]
        spans = set(window_spans(ends, focus))
        # The new text's own windows: its words are the last ones, unless one straddles ``focus``.
        first = bisect.bisect_right(ends, focus)
        if first == len(words) or words[first].start() >= focus:
            spans.update((s + first, e + first) for s, e in window_spans(ends[first:]))
            straddled: list[str] = []
        else:
            straddled = word_windows(text[focus:])
        best = max((self.tokens_score(sum(tokens[s:e], ())) for s, e in spans), default=None)
        if straddled:
            alone = max(self(straddled))
            best = alone if best is None else max(best, alone)
        return 0.0 if best is None else best

    def _known(self, word: str) -> tuple[str, ...]:
        return tuple(t for t in self._analyze(word) if t in self._weights)

    def _tokens_score(self, tokens: tuple[str, ...]) -> float:
        counts: dict[str, int] = {}
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
        terms = [(n * self._weights[t][0], self._weights[t][1]) for t, n in counts.items()]
        norm = math.sqrt(sum(v * v for v, _ in terms)) if self._l2 and terms else 1.0
        p = 0.0
        for k, (c, ak, bk) in enumerate(self._calibration):
            z = c + sum(v * w[k] for v, w in terms) / norm
            p += 1.0 / (1.0 + math.exp(min(500.0, max(-500.0, ak * z + bk))))  # no exp overflow
        return p / len(self._calibration)


# --- Choosing ---------------------------------------------------------------------------


def load_classifier(
    *,
    model_type: str,
    checkpoint: str = "",
    config_dir: str = "",
    fallback: str = "profanity_check",
    device: str = "cpu",
    hf_labels: Mapping[str, str] | None = None,
    hf_activation: Activation = "auto",
    runtime: Runtime = "torch",
    onnx_cache_dir: str | Path = "",
    threads: int = 0,
) -> ToxicityClassifier:
    """The best classifier this host can have (see the module docstring), on ``runtime`` with
    ``threads`` CPU threads (0: all this process may use). Slow: call once."""
    from detoxify import detoxify as dx

    hf_folder = model_type.removeprefix(HF_PREFIX) if model_type.startswith(HF_PREFIX) else ""
    if not checkpoint and not hf_folder and model_type not in dx.MODEL_URLS:
        raise ValueError(
            f"TOXICITY_MODEL={model_type!r} is not one of: {', '.join(dx.MODEL_URLS)} (or hf:/path/to/a/model)"
        )
    if hf_activation not in ("auto", "sigmoid", "softmax"):
        raise ValueError(f"TOXICITY_HF_ACTIVATION={hf_activation!r}: use auto, sigmoid or softmax")
    loaded: ToxicityClassifier | None = None
    reason = ""
    try:
        if hf_folder:
            loaded = hf_from_folder(hf_folder, labels=hf_labels, activation=hf_activation, device=device)
        elif checkpoint:
            loaded = detoxify_from_checkpoint(checkpoint, config_dir=config_dir or None, device=device)
        else:
            loaded = detoxify_download(model_type, config_dir=config_dir or None, device=device)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
    if loaded is not None:
        cache = onnx_cache_dir or Path(tempfile.gettempdir()) / "guardrails-onnx"
        return with_runtime(loaded, runtime, cache_dir=cache, threads=threads, device=device)
    if hf_folder:
        wanted = f"TOXICITY_MODEL={model_type}"
    else:
        wanted = f"TOXICITY_CHECKPOINT={checkpoint}" if checkpoint else f"Detoxify '{model_type}'"
    if fallback == "none":
        raise ToxicityModelUnavailable(
            f"Could not load {wanted} ({reason}) and TOXICITY_FALLBACK=none. Put a Detoxify .ckpt on this host "
            "and set TOXICITY_CHECKPOINT (plus TOXICITY_CONFIG_DIR, a folder with the base model's config and "
            "tokenizer files; `manage.py fetch_models` writes both), or set TOXICITY_MODEL=hf:/path to a local "
            "Hugging Face text-classification model, or give the host internet access, or set "
            "TOXICITY_FALLBACK=profanity_check."
        )
    classifier = ProfanityCheckClassifier(reason)
    bar = "!" * 78
    log.error(
        "\n%s\nTOXICITY FALLBACK ACTIVE: could not load %s (%s).\n"
        "Toxicity is scored by alt-profanity-check %s, a much weaker profanity-only model.\n"
        "It cannot catch threats, self-harm encouragement, harassment or hate without swear words (README).\n"
        "Set TOXICITY_CHECKPOINT and TOXICITY_CONFIG_DIR (manage.py fetch_models), or TOXICITY_MODEL=hf:/path,\n"
        "or TOXICITY_FALLBACK=none to refuse to start.\n%s",
        bar,
        wanted,
        reason,
        classifier.info.version,
        bar,
    )
    return classifier
