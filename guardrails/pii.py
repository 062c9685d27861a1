"""Personal data masking on the way to the LLM, and restoring it on the way back.

Detection is Microsoft Presidio's analyzer with its pattern and validator recognizers only,
over a ``NoOpNlpEngine``: no spaCy model is downloaded or loaded, everything runs offline.
What is found (``GUARDRAILS_PII=mask``): e-mail addresses, phone numbers (Google's
libphonenumber through Presidio), payment card numbers (Luhn-checked), IBANs (checksum), and
national ids whose format carries a checksum or is distinctive enough to stand alone (US SSN,
UK NINO and NHS number, Spanish NIF, Italian fiscal code, Finnish, Polish and Indian ids).
Street addresses are not masked: Presidio finds them only with an NER model, and no maintained
offline recognizer for free text exists (``usaddress`` parses an address, it does not find one).

A conversation keeps one mapping ``{"<EMAIL_1>": "jane@mail.example", ...}``: the same value
gets the same placeholder in every turn, so the model can refer to it consistently. The mapping
is personal data itself: callers store it with the conversation and never log it.

Restoring happens after the checks (``restore_released`` runs after the policy stage): the
checks judge the model's own text, in which the user's values are placeholders, so a value the
user gave is never mistaken for invented contact details. Only placeholders present in the
mapping are restored; one the model made up stays as it is.

This module imports no Django.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from guardrails.policy import Release

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

Mapping = dict[str, str]
"""Placeholder (``<EMAIL_1>``) → the user's value. JSON-serialisable as it is."""

MODES = ("off", "mask")

# Presidio entity → the word in the placeholder. National ids share one word: the model needs
# to know "an id number" was there, not which country issued it.
LABELS: dict[str, str] = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "ID",
    "UK_NINO": "ID",
    "UK_NHS": "ID",
    "ES_NIF": "ID",
    "IT_FISCAL_CODE": "ID",
    "FI_PERSONAL_IDENTITY_CODE": "ID",
    "PL_PESEL": "ID",
    "IN_AADHAAR": "ID",
}
# Below this a match is a format guess with no checksum (a bare 9-digit number "could" be an SSN):
# masking it would hide order numbers from the model for nothing. Checksum-validated matches
# score 1.0; phone numbers validated by libphonenumber score 0.4.
MIN_SCORE = 0.4

PLACEHOLDER = re.compile(r"<([A-Z]+)_([1-9][0-9]*)>")
# A text ending in this may be the first part of a placeholder whose rest is still to come.
_PARTIAL_PLACEHOLDER = re.compile(r"<(?:[A-Z]+(?:_[0-9]*)?)?\Z")


_analyzer_lock = threading.Lock()


@functools.cache
def _analyzer() -> AnalyzerEngine:
    """The shared analyzer, built on first use.

    Presidio is imported here, not at module load: it pulls in spaCy (seconds to import), which
    a deployment with ``GUARDRAILS_PII=off`` and every management command should not pay for.
    """
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        EsNifRecognizer,
        FiPersonalIdentityCodeRecognizer,
        IbanRecognizer,
        InAadhaarRecognizer,
        ItFiscalCodeRecognizer,
        NhsRecognizer,
        PhoneRecognizer,
        PlPeselRecognizer,
        UkNinoRecognizer,
        UsSsnRecognizer,
    )

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer, validating the domain against tldextract's bundled
        public-suffix snapshot instead of downloading the list at first use (no network)."""

        _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

        def validate_result(self, pattern_text: str) -> bool:
            return bool(self._extract(pattern_text).fqdn != "")

    recognizers: list[EntityRecognizer] = [
        OfflineEmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        UkNinoRecognizer(),
        NhsRecognizer(),
        EsNifRecognizer(),
        ItFiscalCodeRecognizer(),
        FiPersonalIdentityCodeRecognizer(),
        PlPeselRecognizer(),
        InAadhaarRecognizer(),
    ]
    engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in recognizers:
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def warm_up() -> None:
    """Build the analyzer now (seconds: spaCy's import), not in the first user's turn."""
    find("warm-up: someone@example.org")


def find(text: str) -> list[tuple[int, int, str]]:
    """Personal data in ``text``: ``(start, end, label)``, in order, never overlapping.

    Where matches overlap (a card number is also a plausible phone number) the higher score
    wins, then the longer match.
    """
    if not text.strip():
        return []
    with _analyzer_lock:  # the engine is shared; Presidio does not promise thread safety
        results: list[RecognizerResult] = _analyzer().analyze(
            text=text, language="en", entities=list(LABELS), score_threshold=MIN_SCORE
        )
    chosen: list[tuple[int, int, str]] = []
    for result in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        if all(result.end <= start or result.start >= end for start, end, _ in chosen):
            chosen.append((result.start, result.end, LABELS[result.entity_type]))
    return sorted(chosen)


def mask(text: str, mapping: Mapping) -> tuple[str, Mapping]:
    """``text`` with personal data replaced by placeholders, and the mapping extended.

    A value already in ``mapping`` gets its existing placeholder; a new one gets the next free
    number for its label (``<EMAIL_1>``, ``<EMAIL_2>``...). ``mapping`` itself is not changed:
    the returned one is a new dict (the same contents when nothing new was found).
    """
    found = find(text)
    if not found:
        return text, mapping
    mapping = dict(mapping)
    placeholders = {value: placeholder for placeholder, value in mapping.items()}
    parts: list[str] = []
    position = 0
    for start, end, label in found:
        value = text[start:end]
        placeholder = placeholders.get(value)
        if placeholder is None:
            placeholder = f"<{label}_{_next_number(mapping, label)}>"
            mapping[placeholder] = value
            placeholders[value] = placeholder
        parts += [text[position:start], placeholder]
        position = end
    parts.append(text[position:])
    return "".join(parts), mapping


def mask_messages(messages: Iterable[dict[str, str]], mapping: Mapping) -> tuple[list[dict[str, str]], Mapping]:
    """``mask`` over each message's ``content`` (chat history), one mapping for all."""
    out = []
    for message in messages:
        content, mapping = mask(message["content"], mapping)
        out.append({**message, "content": content})
    return out, mapping


def _next_number(mapping: Mapping, label: str) -> int:
    numbers = [int(m.group(2)) for p in mapping if (m := PLACEHOLDER.fullmatch(p)) and m.group(1) == label]
    return max(numbers, default=0) + 1


def restore(text: str, mapping: Mapping) -> str:
    """``text`` with every placeholder of ``mapping`` replaced by the user's value.

    A placeholder that is not in the mapping (the model invented ``<EMAIL_7>``) stays as it is.
    """
    if not mapping or "<" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def split_partial(text: str, mapping: Mapping) -> tuple[str, str]:
    """``(complete, rest)``: ``rest`` is a tail of ``text`` that may be the start of a
    placeholder of ``mapping`` (``"<EMA"``) and must wait for the next piece of text."""
    if not mapping:
        return text, ""
    match = _PARTIAL_PLACEHOLDER.search(text)
    if match is None:
        return text, ""
    rest = match.group(0)
    if not any(placeholder.startswith(rest) for placeholder in mapping):
        return text, ""
    return text[: match.start()], rest


def restore_released(mapping: Mapping) -> Callable[[AsyncIterator[Any]], AsyncIterator[Any]]:
    """Stage after the policy: released chunks show the user's values instead of placeholders.

    A placeholder split across released chunks is put together first: the tail of a release
    that may begin a placeholder waits for the next release. Before any other item (a hold, the
    finish) and at the end it is released as it is. Chunk offsets (``start``) stay those of the
    model's text; only the shown text changes. Flags travel with the text they were raised on.
    """

    async def stage(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        pending: Release | None = None
        async for item in items:
            if not isinstance(item, Release):
                if pending is not None:
                    yield pending
                    pending = None
                yield item
                continue
            if pending is not None:
                chunk = dataclasses.replace(
                    item.chunk, text=pending.chunk.text + item.chunk.text, start=pending.chunk.start
                )
                item = Release(chunk=chunk, flagged_by=[*pending.flagged_by, *item.flagged_by])
                pending = None
            complete, rest = split_partial(item.chunk.text, mapping)
            if rest:
                tail = dataclasses.replace(item.chunk, text=rest, start=item.chunk.start + len(complete))
                if not complete:
                    pending = Release(chunk=tail, flagged_by=item.flagged_by)
                    continue
                pending = Release(chunk=tail)
            shown = restore(complete, mapping)
            yield Release(chunk=dataclasses.replace(item.chunk, text=shown), flagged_by=item.flagged_by)
        if pending is not None:
            yield pending

    return stage
