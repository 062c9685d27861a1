"""Running turns' leases: how any process tells a turn whose server died.

A reply is created with a lease (``Message.lease_until``, ``CHAT_TURN_LEASE_SECONDS`` ahead).
One keeper task per process (and event loop) renews the leases of the turns running there
every ``CHAT_TURN_HEARTBEAT_SECONDS`` and ends, in any conversation, the replies whose lease
ran out: they are marked failed with ``error`` + ``done`` events, so the user can go on
within about a lease of the crash. The same check runs when a turn starts, a page loads its
snapshot, a socket subscribes and a review decision arrives (``events.fail_stale_turns``).

A turn that finds its reply ended elsewhere (its lease ran out during a long database
outage) is stopped: the reply stays failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from channels.db import database_sync_to_async
from django.conf import settings

from chat import control, services

logger = logging.getLogger(__name__)

_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def keep() -> None:
    """Make sure this event loop's keeper runs (idempotent; call from async code)."""
    loop = asyncio.get_running_loop()
    task = _keepers.get(loop)
    if task is None or task.done():
        _keepers[loop] = loop.create_task(_keep(), name="chat-leases")


async def beat() -> None:
    """One heartbeat: renew this process's leases, stop turns ended elsewhere, end dead ones."""
    ended_elsewhere = await database_sync_to_async(services.turn_leases_renew)(message_ids=list(control.RUNNING))
    for message_id in ended_elsewhere:
        await control.request_stop(message_id)
    await database_sync_to_async(services.dead_turns_fail)()


async def _keep() -> None:
    while True:
        await asyncio.sleep(settings.CHAT_TURN_HEARTBEAT_SECONDS)  # wait-ok: the heartbeat period
        try:
            await beat()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is down: try again next beat
            logger.warning("turn lease heartbeat failed: %r", exc)


async def close() -> None:
    """Stop this loop's keeper (server shutdown, end of a test)."""
    task = _keepers.pop(asyncio.get_running_loop(), None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)
