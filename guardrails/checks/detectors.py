"""Named detectors for the pattern library: things a single regex cannot judge alone because
the answer depends on an allow-list, the public-suffix list or the conversation (links, phone
numbers, e-mail addresses).

A detector is ``(text, config) -> iterable of (start, end, detail)``; spans are in ``text``.
The pattern check runs each detector on the raw text and on its ``light`` normalized view
(full-width characters, look-alike letters and invisible characters undone).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from guardrails.normalize import normalize

Found = tuple[int, int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """``allowed_domains``: a link's host may be one of these or a subdomain of one.
    ``allowed_contacts``: e-mail addresses, ``@domain`` (any address there) and phone numbers
    (compared by digits, country code optional) the assistant may mention.
    ``user_phones`` / ``user_emails``: contact details the user gave in this conversation (digits
    / lower-case addresses), which the assistant may read back; see :meth:`with_user_texts`."""

    allowed_domains: tuple[str, ...] = ()
    allowed_contacts: tuple[str, ...] = ()
    user_phones: frozenset[str] = frozenset()
    user_emails: frozenset[str] = frozenset()

    def with_user_texts(self, user_texts: Sequence[str]) -> DetectorConfig:
        """This config plus the phone numbers and e-mail addresses written in ``user_texts``."""
        phones: set[str] = set()
        emails: set[str] = set()
        for raw in user_texts:
            text = normalize(raw, "light").text
            emails.update(m.group().lower() for m in _EMAIL.finditer(text))
            for m in _USER_NUMBER.finditer(text):
                digits = _digits(m.group())
                if 7 <= len(digits) <= 15:
                    phones.add(digits)
        return dataclasses.replace(
            self, user_phones=self.user_phones | frozenset(phones), user_emails=self.user_emails | frozenset(emails)
        )


# --- Links ------------------------------------------------------------------------------


@functools.cache
def _suffixes() -> PublicSuffixList:
    # The snapshot bundled with the package: no network, ever. ICANN suffixes only, and an
    # unknown last label is not a suffix ("Node.js", "e.g." are not links).
    return PublicSuffixList(only_icann=True, accept_unknown=False)


_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+|\bhttps?://\S+", re.IGNORECASE)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_BARE_DOMAIN = re.compile(
    r"(?<![@\w.-])(?P<host>(?:" + _LABEL + r"\.)+(?P<tld>[a-z][a-z0-9-]{1,62}))\b(?![@-]|\.\w)(?:[/?#:][^\s<>\"'`]*)?",
    re.IGNORECASE,
)
# "refunds-desk dot net", "example[.]com", "example (dot) co [.] uk": dots spelled out so that
# link filters miss them.
_DOT = r"(?:\s*(?:\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\})\s*|\s+dot\s+)"
_SPELLED_DOMAIN = re.compile(
    r"(?<![\w.-])(?P<host>" + _LABEL + r"(?:" + _DOT + r"|\.)(?:(?:" + _LABEL + r")(?:" + _DOT + r"|\.))*"
    r"(?P<tld>[a-z]{2,24}))\b(?:/[^\s<>\"'`]*)?",
    re.IGNORECASE,
)
_SPELLED_HINT = re.compile(r"\bdot\b|[\[({]\s*(?:\.|dot)", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{2,5})?(?:/[^\s<>\"'`]*)?(?![\w.]\w)")
_TRAILING = ".,;:!?)]}'\"\u2019\u201d"
_VERSION_WORD = re.compile(r"\b(?:version|ver|v|build|release|firmware|update|os|ios|android)\.?\s*$", re.IGNORECASE)
# File names whose extension is also a country's TLD.
_FILE_EXTENSIONS = frozenset({"md", "py", "sh", "zip", "mov", "rs", "pl", "ps", "so", "js"})
# Words that precede a spelled "dot com" without naming a site ("the dot com era").
_NOT_A_NAME = frozenset({"the", "a", "an", "this", "that", "polka", "one", "each", "every", "no"})
# Link shorteners hide where a link goes; reported as such for reviewers.
_SHORTENERS = frozenset(
    {"bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly", "cutt.ly", "t.ly",
     "shorturl.at", "rb.gy", "tiny.cc", "bitly.com", "s.id", "v.gd", "lnkd.in", "trib.al"}
)  # fmt: skip


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


def _is_domain(host: str, tld: str) -> bool:
    """A host on a real top-level domain, not a file name or a sentence missing a space."""
    if tld.lower() in _FILE_EXTENSIONS:
        return False
    # "your order.Delivery takes 3 days": a sentence typo, not a link; domains are written in
    # one case.
    if not (tld.islower() or tld.isupper()):
        return False
    if not any(ch.isalpha() for ch in host.rsplit(".", 1)[0]):
        return False
    return _suffixes().privatesuffix(host.lower()) is not None


def _links(text: str) -> Iterator[tuple[int, int, str, str]]:
    """``(start, end, link, host)`` for every link-like thing in ``text``."""
    taken: list[tuple[int, int]] = []

    def trim(start: int, end: int) -> int:
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        return end

    def free(start: int, end: int) -> bool:
        if any(s < end and start < e for s, e in taken):
            return False
        taken.append((start, end))
        return True

    for m in _URL.finditer(text):
        start, end = m.start(), trim(m.start(), m.end())
        if free(start, end):
            yield start, end, text[start:end], _host(text[start:end])
    for m in _IPV4.finditer(text):
        start, end = m.start(), trim(m.start(), m.end())
        host = text[start:end].split("/", 1)[0].split(":", 1)[0]
        if _VERSION_WORD.search(text, max(0, start - 20), start):
            continue  # "version 2.4.1.0", "build 10.0.19045.1"
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            continue
        if free(start, end):
            yield start, end, text[start:end], host
    for m in _BARE_DOMAIN.finditer(text):
        start, end = m.start(), trim(m.start(), m.end())
        if _is_domain(m.group("host"), m.group("tld")) and free(start, end):
            yield start, end, text[start:end], m.group("host").lower()
    if not _SPELLED_HINT.search(text):
        return
    for m in _SPELLED_DOMAIN.finditer(text):
        if "." in m.group("host") and not re.search(_DOT, m.group("host"), re.IGNORECASE):
            continue  # a plain domain: judged above
        labels = re.split(_DOT + r"|\.", m.group("host"), flags=re.IGNORECASE)
        host = ".".join(label.strip() for label in labels).lower()
        if labels[0].lower() in _NOT_A_NAME or not _is_domain(host, m.group("tld")):
            continue
        start, end = m.start(), trim(m.start(), m.end())
        if free(start, end):
            yield start, end, text[start:end], host


def unlisted_link(text: str, cfg: DetectorConfig) -> Iterator[Found]:
    """Links whose host is not on the allow-list: URLs, ``www.`` names, IP addresses, bare
    domains on any real top-level domain (the public-suffix list's bundled snapshot), and
    domains with spelled-out dots ("help-desk dot net", "example[.]com")."""
    for start, end, link, host in _links(text):
        if host and not _host_allowed(host, cfg.allowed_domains):
            detail: dict[str, Any] = {"match": link, "host": host}
            if host in _SHORTENERS:
                detail["shortener"] = True
            yield start, end, detail


# --- E-mail -----------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_SPELLED_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+\s*(?:\[\s*at\s*\]|\(\s*at\s*\)|\{\s*at\s*\})\s*"
    r"[A-Za-z0-9-]+(?:" + _DOT + r"|\.)[A-Za-z0-9-]+(?:(?:" + _DOT + r"|\.)[A-Za-z0-9-]+)*\b",
    re.IGNORECASE,
)


def _email_allowed(address: str, cfg: DetectorConfig) -> bool:
    address = address.lower()
    if address in cfg.user_emails:
        return True
    domain = address.rsplit("@", 1)[1]
    for entry in cfg.allowed_contacts:
        e = entry.strip().lower()
        if e == address or (e.startswith("@") and e[1:] == domain):
            return True
    return False


def email_address(text: str, cfg: DetectorConfig) -> Iterator[Found]:
    """E-mail addresses (also with a spelled ``[at]``) that are neither on the allow-list
    (exact address or ``@domain``) nor given by the user earlier in the conversation."""
    for m in _EMAIL.finditer(text):
        if not _email_allowed(m.group(), cfg):
            yield m.start(), m.end(), {"match": m.group()}
    for m in _SPELLED_EMAIL.finditer(text):
        parts = re.split(r"\s*(?:\[\s*at\s*\]|\(\s*at\s*\)|\{\s*at\s*\})\s*", m.group(), flags=re.IGNORECASE)
        address = parts[0] + "@" + ".".join(p.strip() for p in re.split(_DOT + r"|\.", parts[-1], flags=re.IGNORECASE))
        if not _email_allowed(address, cfg):
            yield m.start(), m.end(), {"match": m.group(), "address": address}


# --- Phone numbers ----------------------------------------------------------------------

# Separators people write between digit groups, including ones meant to slip past filters
# ("555_123_4567", "555/123/4567", "555·123·4567", "555 - 123 - 4567").
_SEP = r"(?:\s?[.\-\u2010-\u2015_/\u00b7\u2022\u2219~]\s?|\s)"
# A run of digit groups with single separators, optionally "+"/"00" and parentheses. Commas
# and colons are not separators (prices, times), letters and "#" next to it disqualify it.
_PHONE = re.compile(
    r"(?<![\w#/$€£.,:+\-])(?:\+|00)?\(?\d{1,4}\)?(?:" + _SEP + r"?\(?\d{1,7}\)?){1,6}(?![\w/%#\-]|[.,]\d)"
)
_USER_NUMBER = re.compile(r"\+?\(?\d[\d\s().\-\u2010-\u2015_/\u00b7]{5,22}\d")
_KEYWORD = re.compile(
    r"\b(?:call|phone|tel|telephone|dial|mobile|cell|fax|sms|text(?:ing)? us|whatsapp|hotline|helpline|ring|"
    r"contact (?:us|me|them) (?:on|at)|reach (?:us|me) (?:on|at))\b[^.!?\n]{0,25}$",
    re.IGNORECASE,
)
# Identifiers are not phone numbers: "order 823-6719504-2857391", "tracking no. 7731 4410 5521".
# The word is in the number's own sentence (a full stop only after an abbreviation such as
# "no." or "ref.") and not part of a link's path ("…/claim. (212) 555-0199" is still a phone).
_IDENTIFIER = re.compile(
    r"(?<![/\w.-])(?:order|orders|id|ids|tracking|sku|invoice|inv|reference|ref|confirmation|case|ticket|account|acct|"
    r"transaction|txn|serial|model|item|part|po|rma|claim|booking|awb|waybill|receipt|membership|policy|shipment|"
    r"consignment|parcel|package|complaint|request|return|rma|upc|isbn|imei|asin|barcode|voucher|coupon|pnr|utr|upi)"
    r"(?:\s+(?:id|no|number|numbers|nos|is|was|are|ref|code|details?))*"
    r"(?:\s*[:#]|(?:(?<=no)|(?<=nos)|(?<=ref)|(?<=inv)|(?<=acct)|(?<=txn)|(?<=id))\.)?\s*$",
    re.IGNORECASE,
)
# "no." is an abbreviation before a number; "keep the receipt." ends a sentence, and the number
# after it is not that receipt's.
_ABBREVIATED = re.compile(r"\b(?:no|nos|id|ids|ref|inv|acct|txn|po|rma|sku|awb|pnr|utr|upi)\s*\.\s*$", re.IGNORECASE)
_DATE = re.compile(r"^(?:\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4})\b")


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _phone_allowed(digits: str, cfg: DetectorConfig) -> bool:
    entries: Iterable[str] = itertools.chain((e for e in cfg.allowed_contacts if "@" not in e), cfg.user_phones)
    for entry in entries:
        d = _digits(entry)
        # Same number with or without its country code.
        if len(d) >= 7 and (digits == d or digits.endswith(d) or (len(digits) >= 7 and d.endswith(digits))):
            return True
    return False


def phone_number(text: str, cfg: DetectorConfig) -> Iterator[Found]:
    """Phone numbers that are neither on the allow-list nor the user's own (given earlier).

    Without a phone word ("call", "phone", "tel", ...) just before it, a number must look like
    one: 10-15 digits written with separators, parentheses or a ``+``, with a group of at least
    three digits and none longer than six (so "sizes 36 38 40 42 44" and "406-7739284-4391557"
    are not). After such a word, 7-15 digits in any form count. Dates are never phone numbers,
    nor are numbers introduced as identifiers ("order", "tracking", "SKU", "invoice", "ref",
    "#"...) unless a phone word is nearer. Numbers written back to back are split where a new
    one starts with "+" or "("; a run still longer than 15 digits is reported whole rather
    than guessed apart, so no part of an invented number slips through.
    """
    for m in _PHONE.finditer(text):
        for offset, piece in _pieces(m.group()):
            start = m.start() + offset
            candidate = piece.rstrip(" .-_/")
            digits = _digits(candidate)
            if len(digits) < 7 or _DATE.match(candidate):
                continue
            before = text[max(0, start - 40) : start]
            keyword = _KEYWORD.search(before)
            identifier = _IDENTIFIER.search(before)
            if identifier and identifier.group().rstrip().endswith(".") and not _ABBREVIATED.search(before):
                identifier = None
            if identifier and (keyword is None or keyword.start() < identifier.start()):
                continue
            groups = re.findall(r"\d+", candidate)
            formatted = (candidate.startswith(("+", "(")) or len(groups) > 1) and max(map(len, groups)) >= 3
            if not keyword and not (formatted and len(digits) >= 10 and max(map(len, groups)) <= 6):
                continue
            if len(digits) <= 15 and _phone_allowed(digits, cfg):
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


# --- Gates -------------------------------------------------------------------------------

# What each detector cannot find anything without, looked for in one pass of a simple regex
# before its own scans run (most chunks of a reply hold no link, address or number: the three
# detectors cost such a chunk ~50 us, their gates ~2 us). Each gate is implied by the
# detector's expressions, so gating never changes what a detector finds (the tests compare the
# two over the public corpora):
# a link needs "http:"/"https:" or "www." (_URL), a digit, a dot and a digit (_IPV4), a dot
# directly before a letter (_BARE_DOMAIN's last label) or a spelled dot (_SPELLED_HINT, which
# _links already requires before _SPELLED_DOMAIN);
_LINK_GATE = re.compile(r"https?:|www\.|\d\.\d|\.[a-z]", re.IGNORECASE)
# an e-mail address needs "@" (_EMAIL) or a bracketed "at" (_SPELLED_EMAIL);
_SPELLED_AT = re.compile(r"\[\s*at\s*\]|\(\s*at\s*\)|\{\s*at\s*\}", re.IGNORECASE)
# a phone number needs a digit (_PHONE).
_DIGIT = re.compile(r"\d")


def may_hold_link(text: str) -> bool:
    return _LINK_GATE.search(text) is not None or _SPELLED_HINT.search(text) is not None


def may_hold_email(text: str) -> bool:
    return "@" in text or _SPELLED_AT.search(text) is not None


def may_hold_phone(text: str) -> bool:
    return _DIGIT.search(text) is not None


Detector = Callable[[str, DetectorConfig], Iterable[Found]]

#: Per detector: a test that is False only for text in which it finds nothing.
GATES: dict[str, Callable[[str], bool]] = {
    "unlisted_link": may_hold_link,
    "email_address": may_hold_email,
    "phone_number": may_hold_phone,
}


def _gated(name: str, detector: Detector) -> Detector:
    gate = GATES[name]

    def find(text: str, cfg: DetectorConfig) -> Iterable[Found]:
        return detector(text, cfg) if gate(text) else ()

    return functools.update_wrapper(find, detector)


#: The detectors as the pattern library names them (``kind="detector"``), gated.
DETECTORS: dict[str, Detector] = {
    name: _gated(name, detector)
    for name, detector in (
        ("unlisted_link", unlisted_link),
        ("email_address", email_address),
        ("phone_number", phone_number),
    )
}
