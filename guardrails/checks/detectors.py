"""Named detectors for the pattern library: things a single regex cannot judge alone because
the answer depends on an allow-list (links, phone numbers, e-mail addresses).

A detector is ``(text, config) -> iterable of (start, end, detail)``; spans are in ``text``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Found = tuple[int, int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """``allowed_domains``: a link's host may be one of these or a subdomain of one.
    ``allowed_contacts``: e-mail addresses, ``@domain`` (any address there) and phone numbers
    (compared by digits, country code optional) the assistant may mention."""

    allowed_domains: tuple[str, ...] = ()
    allowed_contacts: tuple[str, ...] = ()


# --- Links ------------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
# Bare domains only with common TLDs: "e.g.", "Node.js" or "README.md" are not links.
_TLDS = (
    "com|net|org|info|biz|io|co|ai|app|dev|me|us|uk|ca|au|de|fr|es|it|nl|eu|in|xyz|online|site|shop|store|"
    "link|click|top|ru|cn|tk|ly|gl|gg|tv"
)
_BARE_DOMAIN = re.compile(
    r"(?<![@\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _TLDS + r")\b(?![@-])(?:[/?#][^\s<>\"'`]*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\"\u2019\u201d"


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for domain in allowed:
        d = domain.lower().strip().lstrip(".")
        if d and (host == d or host.endswith("." + d)):
            return True
    return False


def _host(link: str) -> str:
    if "://" not in link:
        link = "http://" + link
    try:
        return urlsplit(link).hostname or ""
    except ValueError:
        return ""


def unlisted_link(text: str, cfg: DetectorConfig) -> Iterator[Found]:
    """Links (URLs, ``www.`` names, bare domains) whose host is not on the allow-list."""
    taken: list[tuple[int, int]] = []
    for pattern in (_URL, _BARE_DOMAIN):
        for m in pattern.finditer(text):
            start, end = m.start(), m.end()
            while end > start and text[end - 1] in _TRAILING:
                end -= 1
            if any(s < end and start < e for s, e in taken):
                continue
            taken.append((start, end))
            link = text[start:end]
            host = _host(link)
            if host and not _host_allowed(host, cfg.allowed_domains):
                yield start, end, {"match": link, "host": host}


# --- E-mail -----------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")


def _email_allowed(address: str, allowed: tuple[str, ...]) -> bool:
    address = address.lower()
    domain = address.rsplit("@", 1)[1]
    for entry in allowed:
        e = entry.strip().lower()
        if e == address or (e.startswith("@") and e[1:] == domain):
            return True
    return False


def email_address(text: str, cfg: DetectorConfig) -> Iterator[Found]:
    """E-mail addresses not on the allow-list (exact address or ``@domain``)."""
    for m in _EMAIL.finditer(text):
        if not _email_allowed(m.group(), cfg.allowed_contacts):
            yield m.start(), m.end(), {"match": m.group()}


# --- Phone numbers ----------------------------------------------------------------------

# A run of digit groups with single separators, optionally "+"/"00" and parentheses. Commas
# and colons are not separators (prices, times), letters and "#" next to it disqualify it
# (order and tracking numbers).
_PHONE = re.compile(
    r"(?<![\w#/$€£.,:+-])(?:\+|00)?\(?\d{1,4}\)?(?:[ .\-\u2010-\u2013]?\(?\d{1,5}\)?){1,6}(?![\w/%#-]|[.,]\d)"
)
_KEYWORD = re.compile(
    r"\b(?:call|phone|tel|telephone|dial|mobile|cell|fax|sms|text(?:ing)? us|whatsapp|hotline|helpline|ring)\b"
    r"[^.!?\n]{0,25}$",
    re.IGNORECASE,
)
_DATE = re.compile(r"^(?:\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4})\b")


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _phone_allowed(digits: str, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        if "@" in entry:
            continue
        d = _digits(entry)
        # Same number with or without its country code.
        if len(d) >= 7 and (digits == d or digits.endswith(d) or (len(digits) >= 7 and d.endswith(digits))):
            return True
    return False


def phone_number(text: str, cfg: DetectorConfig) -> Iterator[Found]:
    """Phone numbers not on the allow-list.

    Without a phone word ("call", "phone", "tel", ...) just before it, a number must look like
    one: 10-15 digits written with separators, parentheses or a ``+``, with a group of at least
    three digits (so "sizes 36 38 40 42 44" is not one). After such a word, 7-15 digits in any
    form count. Dates are never phone numbers. Numbers written back to back are split where a
    new one starts with "+" or "("; a run still longer than 15 digits is reported whole rather
    than guessed apart, so no part of an invented number slips through.
    """
    for m in _PHONE.finditer(text):
        for offset, piece in _pieces(m.group()):
            start = m.start() + offset
            candidate = piece.rstrip(" .-")
            digits = _digits(candidate)
            if len(digits) < 7 or _DATE.match(candidate):
                continue
            keyword = bool(_KEYWORD.search(text, max(0, start - 40), start))
            groups = re.findall(r"\d+", candidate)
            formatted = (candidate.startswith(("+", "(")) or len(groups) > 1) and max(map(len, groups)) >= 3
            if not keyword and not (formatted and len(digits) >= 10):
                continue
            if len(digits) <= 15 and _phone_allowed(digits, cfg.allowed_contacts):
                continue
            yield start, start + len(candidate), {"match": candidate, "digits": digits}


def _pieces(candidate: str) -> Iterator[tuple[int, str]]:
    """Split a run of digit groups where a new number visibly starts (" +" or " ("), unless
    what precedes is too short to be a number of its own ("+1 (212) 555-0199")."""
    cuts = [0]
    for m in re.finditer(r"\s(?=[+(])", candidate):
        if len(_digits(candidate[cuts[-1] : m.start()])) >= 7:
            cuts.append(m.start() + 1)
    cuts.append(len(candidate))
    for a, b in itertools.pairwise(cuts):
        piece = candidate[a:b]
        yield a + (len(piece) - len(piece.lstrip())), piece.strip()


DETECTORS: dict[str, Callable[[str, DetectorConfig], Iterator[Found]]] = {
    "unlisted_link": unlisted_link,
    "email_address": email_address,
    "phone_number": phone_number,
}
