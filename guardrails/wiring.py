"""The process's checkers and toxicity scorer, built from settings and the database.

``guardrails.checks`` says what a check is and holds no Django; this module is where those
checks meet the configuration (``guardrails.conf``), the pattern library (``guardrails.selectors``)
and the one toxicity model. Each object is built once per process, on first use. Call the
factories through the module (``wiring.get_checker()``) so a test replaces exactly one name.
"""

from __future__ import annotations

import threading

from guardrails import conf, selectors
from guardrails.checks import Checker, CombinedChecker, Scope, patterns, toxicity
from guardrails.checks.classifiers import load_classifier
from guardrails.checks.detectors import DetectorConfig
from observability import loadwatch

# Two locks: building a checker loads the scorer, under its own lock.
_checkers_lock = threading.Lock()
_checkers: dict[Scope, CombinedChecker] = {}
_scorer_lock = threading.Lock()
_scorer: toxicity.ToxicityScorer | None = None


# --- Checkers -----------------------------------------------------------------------------


def get_checker() -> CombinedChecker:
    """The checker for assistant replies (toxicity + output patterns), built once per process;
    a turn binds it to its conversation with ``for_conversation``."""
    return _combined("output")


def get_input_checker() -> Checker:
    """The checker for users' messages (toxicity + input patterns), built once per process."""
    return _combined("input")


def _combined(scope: Scope) -> CombinedChecker:
    with _checkers_lock:
        checker = _checkers.get(scope)
        if checker is None:
            checker = _checkers[scope] = _build(scope)
        return checker


def _build(scope: Scope) -> CombinedChecker:
    cfg = conf.load()
    checks: dict[str, Checker] = {
        "toxicity": toxicity.ToxicityChecker(get_scorer(), thresholds=cfg.toxicity_thresholds),
        "patterns": patterns.PatternsChecker(
            selectors.apattern_rules,
            scope=scope,
            detectors=DetectorConfig(
                allowed_domains=tuple(cfg.allowed_domains), allowed_contacts=tuple(cfg.allowed_contacts)
            ),
            regex_timeout=cfg.regex_timeout,
        ),
    }
    # The time limit stretches while the event loop runs behind: overload must not hold text.
    return CombinedChecker(checks, timeout=cfg.check_timeout, fail_modes=cfg.fail_modes, loop_lag=loadwatch.lag)


def reset_checkers() -> None:
    """Forget the built checkers (tests that change settings call this)."""
    with _checkers_lock:
        _checkers.clear()


# --- The toxicity scorer: the model loads once ------------------------------------------------


def get_scorer() -> toxicity.ToxicityScorer:
    """The process-wide scorer, loading the model on first use (start-up calls
    :func:`guardrails.startup.load_models` so no request pays for it)."""
    global _scorer
    with _scorer_lock:
        if _scorer is None:
            cfg = conf.load()
            classifier = load_classifier(
                model_type=cfg.toxicity_model,
                checkpoint=cfg.toxicity_checkpoint,
                config_dir=cfg.toxicity_config_dir,
                fallback=cfg.toxicity_fallback,
                device=cfg.toxicity_device,
                hf_labels=cfg.toxicity_hf_labels,
                hf_activation=cfg.toxicity_hf_activation,
                runtime=cfg.toxicity_runtime,
                onnx_cache_dir=cfg.toxicity_onnx_cache,
                threads=cfg.toxicity_threads,
            )
            _scorer = toxicity.ToxicityScorer(
                classifier, max_batch=cfg.toxicity_batch_max, max_wait_s=cfg.toxicity_batch_wait_ms / 1000
            )
        return _scorer


def reset_scorer() -> None:
    """Stop the scorer's worker and forget the model (tests that change TOXICITY_* call this)."""
    global _scorer
    with _scorer_lock:
        if _scorer is not None:
            _scorer.close()
        _scorer = None
