"""Failed API-key handshakes: counted per client address, then refused for a while.

The same limits as password sign-ins (``AUTH_FAILURE_LIMIT`` failures, then
``AUTH_LOCKOUT_MINUTES`` during which even a valid key is refused; each failure restarts the
wait). Counts live in Django's cache: Redis when ``REDIS_URL`` is set, so every process sees
them; local memory otherwise (one process).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

_PREFIX = "chat:api-key-failures:"


def now() -> float:
    """The clock; a test replaces this name to move time."""
    return time.time()


def _key(address: str) -> str:
    return _PREFIX + address


def _lockout_seconds() -> float:
    return float(settings.AUTH_LOCKOUT_MINUTES) * 60


async def locked(address: str) -> bool:
    """Whether handshakes from ``address`` are refused now, whatever key they carry."""
    record: dict[str, Any] | None = await cache.aget(_key(address))
    if record is None or now() >= record["until"]:
        return False
    return int(record["count"]) >= settings.AUTH_FAILURE_LIMIT


async def failure_record(address: str) -> None:
    """Count one failed handshake from ``address``; failures older than the lockout are forgotten.

    Read-modify-write, not atomic: concurrent failures may count once. The limit is a brake on
    guessing, which that does not undo (a 256-bit key cannot be guessed anyway); what it stops
    is a client hammering the database with bad keys.
    """
    record: dict[str, Any] | None = await cache.aget(_key(address))
    count = 1 if record is None or now() >= record["until"] else int(record["count"]) + 1
    seconds = _lockout_seconds()
    await cache.aset(_key(address), {"count": count, "until": now() + seconds}, timeout=int(seconds) + 1)


async def failures_clear(address: str) -> None:
    await cache.adelete(_key(address))
