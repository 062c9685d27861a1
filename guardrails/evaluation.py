"""Evaluation of the moderation stages on labelled texts. No Django inside.

Each text is streamed as tokens through exactly the stages a live reply takes
(``guardrails.pipeline.moderation``), and what a user would have seen is compared with its
label. ``manage.py evaluate_guardrails`` and ``manage.py moderate_texts`` are thin adapters.

Input (CSV or JSON lines, optionally gzipped; one text per row):

- ``text`` (required); ``id`` (optional, default: the line number);
- ``label``: ``unsafe`` / ``safe`` (also ``1``/``0``, ``true``/``false``, ``yes``/``no``);
  ``moderate_texts`` does not need it;
- ``span`` (optional): the unsafe part, as ``[start, end]`` character offsets or as a substring
  of ``text`` (its first occurrence); CSV may use ``span_start`` and ``span_end`` instead.
  An unsafe text without a span counts the whole text as its unsafe span;
- ``category`` (optional): a name, a list of names (JSON), or names joined by ``|`` (CSV).

Streaming tokeniser (deterministic, so figures are reproducible): :func:`stream_tokens` splits a
text into pieces of leading whitespace plus either a run of at most :data:`TOKEN_MAX_CHARS`
letters/digits or one other character (``" refund"``, ``"-"``, ``"123456"``), roughly an LLM's
word pieces. Chunk boundaries depend only on the text, so any split gives the same verdicts;
the tokeniser only decides how the text arrives.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from guardrails import policy
from guardrails.checks import toxicity
from guardrails.pipeline import Stage, compose

TOKEN_MAX_CHARS = 6
_TOKEN = re.compile(rf"\s*(?:\w{{1,{TOKEN_MAX_CHARS}}}|[^\w\s])|\s+")
_UNSAFE = {"unsafe", "1", "true", "yes", "hateful", "toxic"}
_SAFE = {"safe", "0", "false", "no", "non-hateful", "benign"}
DEFAULT_SWEEP = tuple(round(0.05 * n, 2) for n in range(1, 20))
NO_CATEGORY = "(none)"


class EvaluationInputError(ValueError):
    """A labelled file that cannot be read; the message names the file and row."""


@dataclass(frozen=True, slots=True)
class LabelledText:
    id: str
    text: str
    unsafe: bool | None  # None: no label (moderate_texts only)
    span: tuple[int, int] | None = None
    categories: tuple[str, ...] = ()

    @property
    def unsafe_span(self) -> tuple[int, int]:
        """The explicit span, else the whole text."""
        return self.span if self.span is not None else (0, len(self.text))


@dataclass(slots=True)
class Outcome:
    """What moderation did with one text."""

    held: bool = False
    flagged: bool = False
    shown: str = ""  # what the user sees: released text, one placeholder per held segment
    released: list[tuple[int, int]] = field(default_factory=list)
    reasons: list[dict[str, Any]] = field(default_factory=list)  # hold reasons, then flags
    toxicity_scores: list[dict[str, float]] = field(default_factory=list)  # one per checked window


# --- Reading --------------------------------------------------------------------------------


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open(encoding="utf-8", newline="")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    name = path.name.removesuffix(".gz")
    with _open_text(path) as handle:
        if name.endswith(".csv"):
            for n, row in enumerate(csv.DictReader(handle), start=2):  # line 1: the header
                yield n, dict(row)
        elif name.endswith((".jsonl", ".ndjson")):
            for n, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield n, json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise EvaluationInputError(f"{path}:{n}: not JSON ({exc})") from None
        else:
            raise EvaluationInputError(f"{path}: use a .csv or .jsonl file (optionally .gz)")


def _label(value: Any, where: str) -> bool | None:
    if value is None or value == "":
        return None
    word = str(value).strip().lower()
    if word in _UNSAFE:
        return True
    if word in _SAFE:
        return False
    raise EvaluationInputError(f"{where}: label {value!r} is not unsafe/safe (or 1/0)")


def _span(row: Mapping[str, Any], text: str, where: str) -> tuple[int, int] | None:
    value = row.get("span")
    if value in (None, "") and row.get("span_start") not in (None, ""):
        value = [row["span_start"], row["span_end"]]
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        start = text.find(value)
        if start < 0:
            raise EvaluationInputError(f"{where}: span {value!r} is not in the text")
        return start, start + len(value)
    if isinstance(value, list | tuple) and len(value) == 2:
        start, end = int(value[0]), int(value[1])
        if not 0 <= start < end <= len(text):
            raise EvaluationInputError(f"{where}: span {value!r} is outside the text")
        return start, end
    raise EvaluationInputError(f"{where}: span {value!r} is neither [start, end] nor a substring")


def _categories(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if str(v))
    return tuple(part.strip() for part in str(value).split("|") if part.strip())


def read_labelled(path: str | Path, *, require_label: bool = True, limit: int | None = None) -> list[LabelledText]:
    """The rows of a labelled file (see the module docstring), in file order."""
    path = Path(path)
    out: list[LabelledText] = []
    for n, row in _rows(path):
        where = f"{path}:{n}"
        text = row.get("text")
        if not isinstance(text, str):
            raise EvaluationInputError(f"{where}: no 'text'")
        unsafe = _label(row.get("label"), where)
        if unsafe is None and require_label:
            raise EvaluationInputError(f"{where}: no 'label' (unsafe or safe)")
        item_id = row.get("id")
        out.append(
            LabelledText(
                id=str(item_id) if item_id not in (None, "") else str(n),
                text=text,
                unsafe=unsafe,
                span=_span(row, text, where),
                categories=_categories(row.get("category")),
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


# --- Moderating -------------------------------------------------------------------------------


def stream_tokens(text: str) -> list[str]:
    """The text as the token pieces it is streamed in (their concatenation is ``text``)."""
    return _TOKEN.findall(text)


async def _tokens(text: str) -> AsyncIterator[str]:
    for piece in stream_tokens(text):
        yield piece


async def moderate_text(text: str, stages: Sequence[Stage], *, placeholder: str) -> Outcome:
    """Stream ``text`` through ``stages`` (a fresh set per text) and record what happened."""
    outcome = Outcome()
    scores: list[dict[str, float]] = []
    token = toxicity.SCORE_LOG.set(scores)  # the toxicity check appends each window's scores
    try:
        shown: list[str] = []
        stream = compose(_tokens(text), *stages)
        async for item in stream:
            if isinstance(item, policy.Release):
                shown.append(item.chunk.text)
                outcome.released.append((item.chunk.start, item.chunk.end))
                if item.flagged_by:
                    outcome.flagged = True
                    outcome.reasons += [_reason(v, text) for v in item.flagged_by]
            elif isinstance(item, policy.Hold):
                outcome.held = True
                if item.opens_segment:
                    shown.append(placeholder)
                outcome.reasons += [_reason(v, text) for v in item.reasons]
                if item.flagged_by:
                    outcome.flagged = True
                    outcome.reasons += [_reason(v, text) for v in item.flagged_by]
        outcome.shown = "".join(shown)
    finally:
        toxicity.SCORE_LOG.reset(token)
    outcome.toxicity_scores = scores
    return outcome


def _reason(verdict: Any, text: str) -> dict[str, Any]:
    reason: dict[str, Any] = verdict.as_reason()
    start, end = verdict.span
    reason["severity"] = verdict.severity
    reason["text"] = text[max(start, 0) : max(end, 0)]
    return reason


async def moderate_all(
    items: Sequence[LabelledText],
    stages: Callable[[], Sequence[Stage]],
    *,
    placeholder: str,
    concurrency: int = 32,
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """:func:`moderate_text` for every item, ``concurrency`` at a time (so model inference is
    micro-batched as under live load); outcomes in input order."""
    semaphore = asyncio.Semaphore(max(1, concurrency))
    done = 0

    async def one(item: LabelledText) -> Outcome:
        nonlocal done
        async with semaphore:
            outcome = await moderate_text(item.text, stages(), placeholder=placeholder)
        done += 1
        if progress is not None:
            progress(done)
        return outcome

    return list(await asyncio.gather(*(one(item) for item in items)))


def outcome_row(item: LabelledText, outcome: Outcome) -> dict[str, Any]:
    """One line of ``moderate_texts`` output."""
    return {
        "id": item.id,
        "held": outcome.held,
        "flagged": outcome.flagged,
        "shown": outcome.shown,
        "reasons": outcome.reasons,
    }


# --- Metrics ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Confusion:
    """Counts where "positive" means held and the truth is the label."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, *, unsafe: bool, held: bool) -> None:
        if unsafe and held:
            self.tp += 1
        elif held:
            self.fp += 1
        elif unsafe:
            self.fn += 1
        else:
            self.tn += 1

    def as_dict(self) -> dict[str, Any]:
        n = self.tp + self.fp + self.fn + self.tn
        held = self.tp + self.fp
        precision = self.tp / held if held else None
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else (0.0 if precision is not None and recall is not None else None)
        )
        return {
            "n": n,
            "unsafe": self.tp + self.fn,
            "safe": self.fp + self.tn,
            "held": held,
            "held_rate": _round(held / n) if n else None,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": _round(precision),
            "recall": _round(recall),
            "f1": _round(f1),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def span_shown(span: tuple[int, int], released: Iterable[tuple[int, int]]) -> str:
    """``"whole"`` if every character of ``span`` was released, ``"part"`` if some were,
    else ``"none"``."""
    start, end = span
    shown = 0
    for a, b in released:
        shown += max(0, min(b, end) - max(a, start))
    if end > start and shown >= end - start:
        return "whole"
    return "part" if shown > 0 else "none"


def _holding_checks(outcome: Outcome) -> set[str]:
    return {r["check"] for r in outcome.reasons if r.get("severity", "hold") == "hold"}


def _holding_labels(outcome: Outcome) -> set[str]:
    return {f"{r['check']}:{r['label']}" for r in outcome.reasons if r.get("severity", "hold") == "hold"}


def max_thresholded_score(outcome: Outcome, thresholds: Mapping[str, float]) -> float:
    """The highest toxicity score over the text's windows and the labels that have a threshold."""
    best = 0.0
    for window in outcome.toxicity_scores:
        for label, score in window.items():
            if label in thresholds:
                best = max(best, score)
    return best


def evaluate(
    items: Sequence[LabelledText],
    outcomes: Sequence[Outcome],
    *,
    thresholds: Mapping[str, float],
    sweep: Sequence[float] = DEFAULT_SWEEP,
) -> dict[str, Any]:
    """The report: overall, per check, per check:label, per category, spans shown, false
    holds with their reasons, and a toxicity threshold sweep.

    The sweep applies one threshold ``t`` to every toxicity label that has a threshold and keeps
    the other checks' holds as they were: a text counts as held at ``t`` if another check held
    it or its highest such score reaches ``t``. (Exact for ``hold_rest`` and ``hold_chunk``,
    where every chunk is checked; with ``stop`` later chunks go unchecked.)
    """
    if len(items) != len(outcomes):
        raise ValueError("one outcome per item")
    labelled = [(i, o) for i, o in zip(items, outcomes, strict=True) if i.unsafe is not None]
    overall = Confusion()
    per_check: dict[str, Confusion] = defaultdict(Confusion)
    per_label: dict[str, Confusion] = defaultdict(Confusion)
    per_category: dict[str, Confusion] = defaultdict(Confusion)
    spans: dict[str, Counter[str]] = defaultdict(Counter)
    false_hold_reasons: Counter[str] = Counter()
    false_holds: list[dict[str, Any]] = []
    leaks: list[dict[str, Any]] = []
    checks_seen = sorted({c for _, o in labelled for c in _holding_checks(o)} | {"toxicity", "patterns"})
    labels_seen = sorted({lab for _, o in labelled for lab in _holding_labels(o)})

    for item, outcome in labelled:
        unsafe = bool(item.unsafe)
        overall.add(unsafe=unsafe, held=outcome.held)
        holding = _holding_checks(outcome)
        for check in checks_seen:
            per_check[check].add(unsafe=unsafe, held=check in holding)
        holding_labels = _holding_labels(outcome)
        for label in labels_seen:
            per_label[label].add(unsafe=unsafe, held=label in holding_labels)
        for category in item.categories or (NO_CATEGORY,):
            per_category[category].add(unsafe=unsafe, held=outcome.held)
        if unsafe:
            shown = span_shown(item.unsafe_span, outcome.released)
            for category in ("all", *(item.categories or (NO_CATEGORY,))):
                spans[category][shown] += 1
            if shown != "none":
                leaks.append(
                    {
                        "id": item.id,
                        "categories": list(item.categories),
                        "shown": shown,
                        "span": item.text[slice(*item.unsafe_span)],
                    }
                )
        elif outcome.held:
            false_hold_reasons.update(holding_labels)
            false_holds.append(
                {
                    "id": item.id,
                    "categories": list(item.categories),
                    "text": item.text,
                    "reasons": [r for r in outcome.reasons if r.get("severity", "hold") == "hold"],
                }
            )

    return {
        "overall": {**overall.as_dict(), "flagged": sum(o.flagged for _, o in labelled)},
        "per_check": {name: c.as_dict() for name, c in per_check.items()},
        "per_check_label": {name: c.as_dict() for name, c in per_label.items()},
        "per_category": {name: per_category[name].as_dict() for name in sorted(per_category)},
        "spans": {
            name: {"unsafe": sum(c.values()), "shown_whole": c["whole"], "shown_part": c["part"], "hidden": c["none"]}
            for name, c in sorted(spans.items(), key=lambda kv: (kv[0] != "all", kv[0]))
        },
        "false_hold_reasons": dict(false_hold_reasons.most_common()),
        "false_holds": false_holds,
        "leaks": leaks,
        "toxicity_sweep": toxicity_sweep(labelled, thresholds=thresholds, sweep=sweep),
    }


def toxicity_sweep(
    labelled: Sequence[tuple[LabelledText, Outcome]], *, thresholds: Mapping[str, float], sweep: Sequence[float]
) -> list[dict[str, Any]]:
    """Overall and toxicity-only figures at each threshold of ``sweep`` (see :func:`evaluate`)."""
    scored = [
        (bool(item.unsafe), max_thresholded_score(outcome, thresholds), bool(_holding_checks(outcome) - {"toxicity"}))
        for item, outcome in labelled
    ]
    rows = []
    for t in sweep:
        both, alone = Confusion(), Confusion()
        for unsafe, score, other in scored:
            by_toxicity = score >= t
            both.add(unsafe=unsafe, held=by_toxicity or other)
            alone.add(unsafe=unsafe, held=by_toxicity)
        rows.append({"threshold": t, "all_checks": both.as_dict(), "toxicity_only": alone.as_dict()})
    return rows


# --- Printing -----------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{100 * value:5.1f}%"


def _line(name: str, d: Mapping[str, Any]) -> str:
    return (
        f"  {name[:38]:<38} n={d['n']:>6} unsafe={d['unsafe']:>6} held={d['held']:>6} ({_pct(d['held_rate'])})"
        f"  P={_pct(d['precision'])} R={_pct(d['recall'])} F1={_pct(d['f1'])}"
    )


def format_report(report: Mapping[str, Any], *, model: str = "", show: int = 10) -> str:
    """The report as plain text for a terminal."""
    out: list[str] = []
    if model:
        out.append(f"toxicity model: {model}")
    out.append("overall")
    out.append(_line("all texts", report["overall"]) + f"  flagged={report['overall']['flagged']}")
    out.append("per check (held by that check)")
    out += [_line(name, d) for name, d in report["per_check"].items()]
    if report["per_check_label"]:
        out.append("per check:label")
        out += [_line(name, d) for name, d in report["per_check_label"].items()]
    out.append("per category")
    out += [_line(name, d) for name, d in report["per_category"].items()]
    if report["spans"]:
        out.append("unsafe spans shown (whole / in part / hidden)")
        for name, d in report["spans"].items():
            out.append(
                f"  {name[:38]:<38} {d['shown_whole']:>6} / {d['shown_part']:>6} / {d['hidden']:>6} of {d['unsafe']}"
            )
    if report["false_hold_reasons"]:
        out.append("false holds by reason")
        out += [f"  {name:<38} {count:>6}" for name, count in report["false_hold_reasons"].items()]
    for hold in report["false_holds"][:show]:
        reasons = "; ".join(f"{r['check']}:{r['label']} {r['text'][:60]!r}" for r in hold["reasons"])
        out.append(f"  false hold {hold['id']}: {hold['text'][:90]!r} <- {reasons}")
    out.append("toxicity threshold sweep (one threshold for every thresholded label)")
    out.append(f"  {'t':>5}  {'held':>7} {'P':>7} {'R':>7} {'F1':>7} | toxicity only: {'held':>7} {'P':>7} {'R':>7}")
    for row in report["toxicity_sweep"]:
        a, t = row["all_checks"], row["toxicity_only"]
        out.append(
            f"  {row['threshold']:>5.2f}  {_pct(a['held_rate'])} {_pct(a['precision'])} {_pct(a['recall'])}"
            f" {_pct(a['f1'])} |                {_pct(t['held_rate'])} {_pct(t['precision'])} {_pct(t['recall'])}"
        )
    return "\n".join(out)
