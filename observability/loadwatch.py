"""How far behind this process's event loop runs, for admission control and check limits.

A probe task per event loop asks to be woken every ``INTERVAL`` seconds and records how late
it woke: how long every callback waits for the loop (a saturated core, a long synchronous
step). The checks run on that loop, and a check kept waiting looks like a slow check: its time
limit (``GUARDRAILS_CHECK_TIMEOUT``) fails closed and holds good text. So past
``CHAT_MAX_LOOP_LAG_MS`` of lag new turns are refused with ``backend_overloaded`` and a
``retry_after`` (``chat.consumers``), as past ``CHAT_MAX_RUNNING_TURNS``, and the running
replies' check limits stretch by the lag (``guardrails.checks.CombinedChecker``): overload
becomes "try again in a few seconds" for new messages, not held text.

:func:`lag` is the worst lateness seen in the last ``WINDOW`` seconds, and the probe's current
sleep if it is overdue: a loop held up right now shows at once, and a burst of turn starts
keeps refusing for a while after the loop caught up instead of letting the next burst in.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import weakref

from observability import metrics

INTERVAL = 0.05
WINDOW = 2.0


class _Probe:
    """Recent wake-up lateness of one loop: ``(loop time, seconds late)``, oldest first."""

    def __init__(self) -> None:
        self.samples: collections.deque[tuple[float, float]] = collections.deque()
        self.task: asyncio.Task[None] | None = None
        self.due: float | None = None  # when the probe's current sleep should end

    def add(self, now: float, late: float) -> None:
        self.samples.append((now, late))
        self._forget(now)

    def worst(self, now: float) -> float:
        self._forget(now)
        # The sleep the probe is in counts too: a loop held up right now shows at once.
        overdue = now - self.due if self.due is not None else 0.0
        return max(overdue, max((late for _, late in self.samples), default=0.0))

    def _forget(self, now: float) -> None:
        while self.samples and self.samples[0][0] < now - WINDOW:
            self.samples.popleft()


_probes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Probe] = weakref.WeakKeyDictionary()


def watch() -> None:
    """Make sure this event loop is probed (idempotent; call from async code)."""
    loop = asyncio.get_running_loop()
    probe = _probes.setdefault(loop, _Probe())
    if probe.task is None or probe.task.done():
        probe.task = loop.create_task(_run(probe), name="chat-loadwatch")


def lag() -> float:
    """The worst lateness of this loop's callbacks in the last ``WINDOW`` seconds (0 when
    not probed: :func:`watch` starts it)."""
    loop = asyncio.get_running_loop()
    probe = _probes.get(loop)
    return 0.0 if probe is None else probe.worst(loop.time())


async def _run(probe: _Probe) -> None:
    loop = asyncio.get_running_loop()
    while True:
        probe.due = due = loop.time() + INTERVAL
        await asyncio.sleep(INTERVAL)  # wait-ok: the probe's period; its lateness is the measure
        now = loop.time()
        late = max(0.0, now - due)
        probe.due = None
        probe.add(now, late)
        metrics.EVENT_LOOP_LAG.observe(late)


async def close() -> None:
    """Stop this loop's probe (server shutdown, end of a test)."""
    probe = _probes.pop(asyncio.get_running_loop(), None)
    if probe is not None and probe.task is not None:
        probe.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(probe.task, 5)
