"""Channel layer tuned for many concurrent streams in one process (the embedded default)."""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    """channels' in-memory layer, sweeping expired messages at most once a second.

    The stock layer walks every channel and group on every send and receive, so with
    hundreds of sockets each delta costs O(sockets). Expiry is measured in tens of seconds
    (``expiry``, ``group_expiry``); sweeping a second late changes nothing a user can see.
    """

    sweep_interval = 1.0
    _last_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self.sweep_interval:
            self._last_sweep = now
            super()._clean_expired()  # type: ignore[misc]  # channels-stubs omits this private method
