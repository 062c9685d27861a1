"""Typed guardrails configuration, read from Django settings in one place.

``config/settings.py`` reads the environment; this module turns those values into a typed,
validated object and supplies defaults for names a settings module may not define (tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from guardrails.checks import FailMode
from guardrails.checks.classifiers import Activation, Runtime

Fallback = Literal["profanity_check", "none"]

# Per-label thresholds. Detoxify's labels (after its own renaming) plus "profanity", the
# fallback model's only label. Labels without a threshold (e.g. unbiased's identity-mention
# outputs such as "male" or "christian", which are not toxicity) never fail a chunk.
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "toxicity": 0.7,
    "severe_toxicity": 0.5,
    "obscene": 0.7,
    "identity_attack": 0.6,
    "insult": 0.7,
    "threat": 0.6,
    "sexual_explicit": 0.7,
    "profanity": 0.8,
}

CHECK_NAMES = ("toxicity", "patterns")


@dataclass(frozen=True, slots=True)
class GuardrailsSettings:
    # False only to measure the relay alone (bench/relay.py): replies are shown unchecked.
    enabled: bool = True
    chunk_max_chars: int = 200
    # Time cuts (guardrails.chunking.sentences); 0 = off, the default here so tests chunk by
    # text alone. The product's values are in config/settings.py.
    chunk_max_ms: float = 0.0
    first_chunk_ms: float = 0.0
    first_chunk_chars: int = 0
    context_chars: int = 120
    on_fail: str = "hold_rest"
    max_input_chars: int = 4000
    allowed_domains: tuple[str, ...] = ("example.com",)
    allowed_contacts: tuple[str, ...] = ("support@example.com",)
    check_timeout: float = 2.0
    fail_modes: Mapping[str, FailMode] = field(default_factory=dict)
    regex_timeout: float = 0.25
    patterns_recheck_s: float = 2.0
    toxicity_model: str = "unbiased"
    toxicity_checkpoint: str = ""
    toxicity_config_dir: str = ""
    toxicity_device: str = "cpu"
    toxicity_fallback: Fallback = "profanity_check"
    toxicity_thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    toxicity_batch_max: int = 32
    toxicity_batch_wait_ms: float = 5.0
    toxicity_hf_labels: Mapping[str, str] = field(default_factory=dict)
    toxicity_hf_activation: Activation = "auto"
    toxicity_runtime: Runtime = "torch"
    toxicity_threads: int = 0  # 0: every CPU this process may use
    toxicity_onnx_cache: str = ""  # "" : <tmp>/guardrails-onnx


def parse_thresholds(value: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"insult=0.5,threat=0.4"`` (or a mapping) over :data:`DEFAULT_THRESHOLDS`."""
    merged = dict(DEFAULT_THRESHOLDS)
    if not value:
        return merged
    items: list[tuple[str, str | float]]
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        items = []
        for part in value.split(","):
            if not part.strip():
                continue
            label, sep, number = part.partition("=")
            if not sep:
                raise ValueError(f"TOXICITY_THRESHOLDS entry {part!r} is not label=number")
            items.append((label.strip(), number))
    for name, value_ in items:
        threshold = float(value_)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"TOXICITY_THRESHOLDS: {name}={threshold} is outside 0..1")
        merged[name] = threshold
    return merged


def parse_label_map(value: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"LABEL_1=toxicity,LABEL_0="`` (or a mapping): a model's label names → ours; an empty
    name drops that label."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    mapping = {}
    for part in value.split(","):
        if not part.strip():
            continue
        raw, sep, name = part.partition("=")
        if not sep or not raw.strip():
            raise ValueError(f"TOXICITY_HF_LABELS entry {part!r} is not model_label=our_label")
        mapping[raw.strip()] = name.strip()
    return mapping


def _fail_mode(name: str, value: Any) -> FailMode:
    mode = str(value or "closed").strip().lower()
    if mode not in ("closed", "open"):
        raise ValueError(f"GUARDRAILS_FAIL_MODE_{name.upper()}={value!r}: use closed or open")
    return cast(FailMode, mode)


def load() -> GuardrailsSettings:
    """The current settings as a :class:`GuardrailsSettings` (read on each call: tests override)."""
    from django.conf import settings

    d = GuardrailsSettings()

    def get(name: str, default: Any) -> Any:
        return getattr(settings, name, default)

    fallback = str(get("TOXICITY_FALLBACK", d.toxicity_fallback)).strip().lower() or "none"
    if fallback not in ("profanity_check", "none"):
        raise ValueError(f"TOXICITY_FALLBACK={fallback!r}: use profanity_check or none")
    activation = str(get("TOXICITY_HF_ACTIVATION", d.toxicity_hf_activation)).strip().lower() or "auto"
    if activation not in ("auto", "sigmoid", "softmax"):
        raise ValueError(f"TOXICITY_HF_ACTIVATION={activation!r}: use auto, sigmoid or softmax")
    runtime = str(get("TOXICITY_RUNTIME", d.toxicity_runtime)).strip().lower() or "torch"
    if runtime not in ("torch", "onnx"):
        raise ValueError(f"TOXICITY_RUNTIME={runtime!r}: use torch or onnx")
    return GuardrailsSettings(
        enabled=bool(get("GUARDRAILS_ENABLED", d.enabled)),
        chunk_max_chars=int(get("GUARDRAILS_CHUNK_MAX_CHARS", d.chunk_max_chars)),
        chunk_max_ms=float(get("GUARDRAILS_CHUNK_MAX_MS", d.chunk_max_ms)),
        first_chunk_ms=float(get("GUARDRAILS_FIRST_CHUNK_MS", d.first_chunk_ms)),
        first_chunk_chars=int(get("GUARDRAILS_FIRST_CHUNK_CHARS", d.first_chunk_chars)),
        context_chars=int(get("GUARDRAILS_CONTEXT_CHARS", d.context_chars)),
        on_fail=str(get("GUARDRAILS_ON_FAIL", d.on_fail)),
        max_input_chars=int(get("GUARDRAILS_MAX_INPUT_CHARS", d.max_input_chars)),
        allowed_domains=tuple(get("GUARDRAILS_ALLOWED_DOMAINS", d.allowed_domains)),
        allowed_contacts=tuple(get("GUARDRAILS_ALLOWED_CONTACTS", d.allowed_contacts)),
        check_timeout=float(get("GUARDRAILS_CHECK_TIMEOUT", d.check_timeout)),
        fail_modes={n: _fail_mode(n, get(f"GUARDRAILS_FAIL_MODE_{n.upper()}", "closed")) for n in CHECK_NAMES},
        regex_timeout=float(get("GUARDRAILS_REGEX_TIMEOUT", d.regex_timeout)),
        patterns_recheck_s=float(get("GUARDRAILS_PATTERNS_RECHECK_S", d.patterns_recheck_s)),
        toxicity_model=str(get("TOXICITY_MODEL", d.toxicity_model)),
        toxicity_checkpoint=str(get("TOXICITY_CHECKPOINT", d.toxicity_checkpoint)),
        toxicity_config_dir=str(get("TOXICITY_CONFIG_DIR", d.toxicity_config_dir)),
        toxicity_device=str(get("TOXICITY_DEVICE", d.toxicity_device)) or "cpu",
        toxicity_fallback=cast(Fallback, fallback),
        toxicity_thresholds=parse_thresholds(get("TOXICITY_THRESHOLDS", "")),
        toxicity_batch_max=int(get("TOXICITY_BATCH_MAX", d.toxicity_batch_max)),
        toxicity_batch_wait_ms=float(get("TOXICITY_BATCH_WAIT_MS", d.toxicity_batch_wait_ms)),
        toxicity_hf_labels=parse_label_map(get("TOXICITY_HF_LABELS", "")),
        toxicity_hf_activation=cast(Activation, activation),
        toxicity_runtime=cast(Runtime, runtime),
        toxicity_threads=int(get("TOXICITY_THREADS", d.toxicity_threads)),
        toxicity_onnx_cache=str(get("TOXICITY_ONNX_CACHE", d.toxicity_onnx_cache)),
    )
