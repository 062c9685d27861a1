"""Failed sign-ins: slowed after a few, then refused for a while.

Two brakes, for passwords and for API keys alike:

- slowing: from the ``AUTH_SLOW_AFTER``-th failure on, the next attempt is refused until a delay
  has passed since the last failure: 1 s, then doubling with each further failure, at most
  ``AUTH_SLOW_MAX_SECONDS`` (:func:`slow_delay`). Nobody sleeps: a too-early attempt is refused
  with the seconds left, and it is not counted as a failure.
- locking: ``AUTH_FAILURE_LIMIT`` failures, then ``AUTH_LOCKOUT_MINUTES`` during which even the
  right password or a valid key is refused; each failure restarts the wait.

Passwords are counted by django-axes, per username and per address; this module reads those
counts (:func:`sign_in_wait`) and adds the time of the last failure under the same keys
(:func:`sign_in_failure_record`, on Django's ``user_login_failed``). API keys are counted here,
per client address. Everything lives in Django's cache: Redis when ``REDIS_URL`` is set, so
every process sees it; local memory otherwise (one process).
"""

from __future__ import annotations

import math
import time
from typing import Any

from axes.helpers import get_cache, get_client_cache_keys
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest

_PREFIX = "chat:api-key-failures:"
_LAST_FAILURE_SUFFIX = ":last-failure"  # appended to axes' own cache keys


def now() -> float:
    """The clock; a test replaces this name to move time."""
    return time.time()


# --- The rule, shared -------------------------------------------------------------------


def slow_delay(failures: int) -> float:
    """Seconds an attempt must wait after the last of ``failures`` failures (0: none).

    0 below ``AUTH_SLOW_AFTER`` failures, and from ``AUTH_FAILURE_LIMIT`` on (the lock answers
    then); in between 1, 2, 4 … seconds, capped at ``AUTH_SLOW_MAX_SECONDS``.
    """
    slow_after = int(settings.AUTH_SLOW_AFTER)
    if failures < slow_after or failures >= settings.AUTH_FAILURE_LIMIT:
        return 0.0
    return min(2.0 ** (failures - slow_after), float(settings.AUTH_SLOW_MAX_SECONDS))


def _seconds_left(failures: int, last_failure: float | None) -> int:
    """Whole seconds (rounded up) before the next attempt may come; 0: it may come now."""
    if last_failure is None:
        return 0
    return max(0, math.ceil(last_failure + slow_delay(failures) - now()))


def wait_message(what: str, seconds: int) -> str:
    """The one sentence a slowed client reads, e.g. ``Too many failed sign-ins: try again in 4 seconds.``"""
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many failed {what}: try again in {seconds} {unit}."


# --- Passwords (counted by django-axes) -------------------------------------------------


def _sign_in_keys(request: HttpRequest, credentials: dict[str, Any] | None) -> list[str]:
    """axes' cache keys for this attempt: one per lockout parameter (username, address)."""
    keys: list[str] = get_client_cache_keys(request, credentials)
    return keys


def sign_in_wait(request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
    """Seconds before this sign-in attempt may be tried (0: now), for its username or its address.

    The username comes from ``credentials`` or else the POSTed form, the address as axes
    resolves it; the slowest of the two wins. 0 when either is locked: axes answers that.
    """
    axes_cache = get_cache()
    keys = _sign_in_keys(request, credentials)
    counts = [int(axes_cache.get(key, 0)) for key in keys]
    if max(counts, default=0) >= settings.AUTH_FAILURE_LIMIT:
        return 0
    waits = [
        _seconds_left(count, axes_cache.get(key + _LAST_FAILURE_SUFFIX))
        for key, count in zip(keys, counts, strict=True)
    ]
    return max(waits, default=0)


@receiver(user_login_failed, dispatch_uid="chat.throttle.sign_in_failure_record")
def sign_in_failure_record(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: object
) -> None:
    """Note when this failure happened, under axes' keys (axes itself counts it).

    Kept only as long as the longest delay: older than that, the time no longer matters.
    """
    if request is None:  # authenticate() called outside a request: axes does not count it either
        return
    timeout = math.ceil(float(settings.AUTH_SLOW_MAX_SECONDS)) + 1
    get_cache().set_many({key + _LAST_FAILURE_SUFFIX: now() for key in _sign_in_keys(request, credentials)}, timeout)


# --- API keys on the WebSocket handshake (counted here, per address) --------------------


def _key(address: str) -> str:
    return _PREFIX + address


def _lockout_seconds() -> float:
    return float(settings.AUTH_LOCKOUT_MINUTES) * 60


async def _record(address: str) -> dict[str, Any] | None:
    """The address's live failure record, or None (never failed, or the failures expired)."""
    record: dict[str, Any] | None = await cache.aget(_key(address))
    return None if record is None or now() >= record["until"] else record


async def locked(address: str) -> bool:
    """Whether handshakes from ``address`` are refused now, whatever key they carry."""
    record = await _record(address)
    return record is not None and int(record["count"]) >= settings.AUTH_FAILURE_LIMIT


async def wait(address: str) -> int:
    """Seconds before a handshake from ``address`` may be tried (0: now): the slowing, not the lock."""
    record = await _record(address)
    if record is None:
        return 0
    # Records written before the slowing existed carry no "last": the lock's start is that time.
    last = float(record.get("last", record["until"] - _lockout_seconds()))
    return _seconds_left(int(record["count"]), last)


async def failure_record(address: str) -> None:
    """Count one failed handshake from ``address``; failures older than the lockout are forgotten.

    Read-modify-write, not atomic: concurrent failures may count once. The limit is a brake on
    guessing, which that does not undo (a 256-bit key cannot be guessed anyway); what it stops
    is a client hammering the database with bad keys.
    """
    record = await _record(address)
    count = 1 if record is None else int(record["count"]) + 1
    seconds = _lockout_seconds()
    moment = now()
    await cache.aset(
        _key(address), {"count": count, "until": moment + seconds, "last": moment}, timeout=int(seconds) + 1
    )


async def failures_clear(address: str) -> None:
    await cache.adelete(_key(address))
