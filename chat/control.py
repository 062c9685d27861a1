"""Stopping running turns, from any process.

This process's running turns are registered here by message id. ``stop`` reaches a turn
directly when it runs here, otherwise through its control group on the channel layer, which
one listener per process (and event loop) reads for every turn running there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from django.conf import settings

from chat import events

logger = logging.getLogger(__name__)

# message_id -> task, for the turns running in this process.
RUNNING: dict[int, asyncio.Task[None]] = {}
# Turns asked to stop. Cancelling alone is not enough: a library that swallows a
# CancelledError (a known asyncio.wait_for race before 3.12) would lose the stop, so the
# turn also checks this after every item it receives.
STOPPING: set[int] = set()


class StopRequested(Exception):
    """Raised inside a turn that saw its stop flag."""


def _layer() -> Any:
    # Any: the stop listener calls new_channel/receive, which BaseChannelLayer does not declare.
    return events.layer()


def control_group(message_id: int) -> str:
    """The group a running turn listens on for ``stop`` from any process."""
    return f"chat.turn.{message_id}"


def register(message_id: int, task: asyncio.Task[None]) -> None:
    """Make a turn stoppable while its task runs."""
    RUNNING[message_id] = task

    def forget(_: asyncio.Task[None]) -> None:
        RUNNING.pop(message_id, None)
        STOPPING.discard(message_id)

    task.add_done_callback(forget)


def at_capacity() -> bool:
    """Whether this process already runs ``CHAT_MAX_RUNNING_TURNS`` turns (0: no cap)."""
    cap: int = settings.CHAT_MAX_RUNNING_TURNS
    return cap > 0 and len(RUNNING) >= cap


def check(message_id: int) -> None:
    """Raise :class:`StopRequested` if the turn was asked to stop."""
    if message_id in STOPPING:
        raise StopRequested


def _stop_here(message_id: int, task: asyncio.Task[None]) -> None:
    if message_id not in STOPPING:  # a second stop must not cancel the turn's own wrap-up
        STOPPING.add(message_id)
        task.cancel()


async def request_stop(message_id: int) -> None:
    """Stop a running turn wherever it runs: here directly, elsewhere via the channel layer."""
    task = RUNNING.get(message_id)
    if task is not None:
        _stop_here(message_id, task)
        return
    await _layer().group_send(control_group(message_id), {"type": "turn.stop", "message_id": message_id})


class ControlChannel:
    """One channel per process (and event loop) on which running turns hear ``stop``.

    A turn joins its control group with this channel while it runs, so a stop sent from
    any process reaches it; one blocking receive serves every turn of the process.
    """

    def __init__(self) -> None:
        self.layer: Any = None
        self.name = ""
        self.task: asyncio.Task[None] | None = None

    async def join(self, message_id: int) -> None:
        """Listen for ``stop`` of this turn from other processes. Best effort: while the layer
        is down (a Redis blip) the turn runs on, stoppable from this process only."""
        try:
            await self._join(message_id)
        except Exception as exc:
            logger.warning("turn %s cannot hear stop from other processes: %r", message_id, exc)

    async def _join(self, message_id: int) -> None:
        layer = _layer()
        if self.task is None or self.task.done() or self.layer is not layer:
            # The default prefix on purpose: channels-redis reads all of a process's channels with
            # that prefix through one shared list; another prefix would make this blocking read
            # take turns with the consumers' and delay their events by seconds.
            self.layer, self.name = layer, await layer.new_channel()
            self.task = asyncio.create_task(self._listen(layer, self.name), name="chat-control")
        await layer.group_add(control_group(message_id), self.name)

    async def leave(self, message_id: int) -> None:
        with contextlib.suppress(Exception):  # membership expires by itself if this fails
            await self.layer.group_discard(control_group(message_id), self.name)

    @staticmethod
    async def _listen(layer: Any, channel: str) -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup must not deafen the process for good
                logger.exception("control channel receive failed; retrying")
                await asyncio.sleep(1)
                continue
            task = RUNNING.get(message.get("message_id", 0))
            if message.get("type") == "turn.stop" and task is not None:
                _stop_here(message["message_id"], task)


_controls: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ControlChannel] = weakref.WeakKeyDictionary()


def channel() -> ControlChannel:
    """This event loop's control channel."""
    return _controls.setdefault(asyncio.get_running_loop(), ControlChannel())


async def close_control() -> None:
    """Stop this loop's control listener (server shutdown, end of a test)."""
    control = _controls.pop(asyncio.get_running_loop(), None)
    if control is not None and control.task is not None:
        control.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(control.task, 5)
