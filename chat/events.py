"""A conversation's event stream, in one place: each event reaches every socket once, in order.

Words used here: a *frame* is the JSON a client receives (built in ``chat.protocol``); an
*event* is a frame about a conversation, numbered by ``seq``; an ``Event`` row stores one; a
*layer message* is what travels on the channel layer (``chat.frame`` carries a frame,
``chat.stored`` says events are stored up to a ``seq``). ``after_seq`` is a replay cursor: the
last ``seq`` a client holds.

The promise, and how it is kept:

* **Numbering.** ``seq`` grows by one per event in each conversation. While a turn runs it alone
  numbers its conversation's events (:class:`TurnEvents`); events raised elsewhere meanwhile
  (a review decision) are *parked* on the conversation and numbered after the turn's ``done``
  (:func:`append_or_park`, :func:`advance`). So ``seq`` is contiguous and ordered as published.
* **Publish first, store in batches.** A turn publishes each event at once; a process stores
  the events of all its running turns together a few times a second (``CHAT_EVENT_FLUSH_MS``,
  one database transaction per interval for every turn: :class:`Flusher`), never per token or
  per turn; after each batch it sends ``chat.stored`` so sockets waiting on a gap read it from
  the database. A turn stores its last batch itself, with its ``done``.
* **Following.** A socket's :class:`Follower` (pure, no I/O) merges stored events (read with
  :func:`replay`) and live ones into each event once, in order; the consumer only moves frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from chat import protocol, rows
from chat.models import Conversation, Event, Message
from chat.protocol import ErrorCode, EventFrame

logger = logging.getLogger(__name__)

# Layer message types (the consumer's handlers are named after them: chat_frame, chat_stored).
FRAME = "chat.frame"
STORED = "chat.stored"


# --- Publication (the channel layer) ----------------------------------------------------


def layer() -> BaseChannelLayer:
    """The default channel layer (settings always configure one)."""
    default = get_channel_layer()
    assert default is not None, "CHANNEL_LAYERS has no default layer"
    return default


def conversation_group(conversation_id: int) -> str:
    """The group of every socket following a conversation, on any process."""
    return f"chat.conversation.{conversation_id}"


async def publish(frame: EventFrame) -> bool:
    """Send an event to every socket following its conversation, on any process.

    Best effort, never raises: the database is the source of truth. While the layer is down
    (a Redis blip) the turn goes on storing its events; sockets that lost the layer are
    closed by their server and replay what they missed when the page reconnects. Returns
    whether the layer took the event.
    """
    return await _send(conversation_group(frame["conversation_id"]), {"type": FRAME, "frame": frame})


async def announce_stored(conversation_id: int, seq: int) -> bool:
    """Tell the conversation's sockets that its events up to ``seq`` are stored (best effort)."""
    message = {"type": STORED, "conversation_id": conversation_id, "seq": seq}
    return await _send(conversation_group(conversation_id), message)


async def _send(group: str, message: dict[str, object]) -> bool:
    try:
        await layer().group_send(group, message)
    except Exception as exc:  # the layer is down: storage carries on (see publish)
        logger.warning("channel layer send to %s failed: %r", group, exc)
        return False
    return True


def publish_on_commit(frame: EventFrame | None) -> None:
    """From sync code: publish a stored event once the surrounding transaction commits."""
    if frame is not None:
        transaction.on_commit(lambda: async_to_sync(publish)(frame))


# --- Storage (sync; the callers hold a transaction) -------------------------------------


def store(*, conversation_id: int, frames: Iterable[EventFrame]) -> None:
    """Store numbered events as they are (their ``seq`` was allocated by a running turn)."""
    store_many([(conversation_id, frames)])


def store_many(batches: Iterable[tuple[int, Iterable[EventFrame]]]) -> None:
    """:func:`store` for several conversations' events at once (a periodic flush)."""
    rows.insert_many(
        Event,
        (
            {"conversation_id": conversation_id, "seq": f["seq"], "type": f["type"], "payload": f}
            for conversation_id, frames in batches
            for f in frames
        ),
    )


def append(conversation: Conversation, frames: Iterable[EventFrame]) -> list[EventFrame]:
    """Number events after the conversation's ``last_seq`` and store them (caller holds the
    row lock and saves ``last_seq``)."""
    numbered: list[EventFrame] = []
    for frame in frames:
        conversation.last_seq += 1
        numbered.append(cast(EventFrame, {**frame, "conversation_id": conversation.pk, "seq": conversation.last_seq}))
    store(conversation_id=conversation.pk, frames=numbered)
    return numbered


def advance(*, conversation_id: int, frames: list[EventFrame], final: bool) -> list[EventFrame]:
    """Move the counter past a running turn's stored batch. At the turn's end (``final``), also
    append the events parked while it ran, numbered after its own; return those to publish."""
    if not final:
        if frames:
            rows.update(Conversation, conversation_id, {"last_seq": frames[-1]["seq"]})
        return []
    # The usual case, nothing parked: one statement, which also takes the row lock.
    caught_up = {"last_seq": frames[-1]["seq"]} if frames else {}
    if rows.update(
        Conversation, conversation_id, {**caught_up, "updated_at": timezone.now()}, where={"parked_events": []}
    ):
        return []
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    if frames:
        conversation.last_seq = frames[-1]["seq"]
    released = append(conversation, conversation.parked_events)
    conversation.parked_events = []
    conversation.save(update_fields=["last_seq", "parked_events", "updated_at"])
    return released


DEAD_TURN_DETAIL = "The server writing this reply stopped before it finished. Send your message again."


def lease_until() -> datetime:
    """A running turn's lease from now (renewed every ``CHAT_TURN_HEARTBEAT_SECONDS``)."""
    return timezone.now() + timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS)


def dead_replies() -> QuerySet[Message]:
    """Streaming replies whose lease ran out: the process running them is gone."""
    return Message.objects.filter(status=Message.Status.STREAMING, lease_until__lt=timezone.now())


def fail_stale_turns(conversation: Conversation) -> None:
    """End the turns whose process died (caller holds the conversation's row lock).

    A turn whose lease ran out is marked failed; ``last_seq`` catches up with what it stored;
    its ``error`` and ``done`` are appended (and published after commit) so every socket
    stops showing it as generating; then the events parked meanwhile are appended.
    """
    dead = list(dead_replies().filter(conversation=conversation).values_list("pk", flat=True))
    stored = conversation.events.order_by("-seq").values_list("seq", flat=True).first() or 0
    conversation.last_seq = max(conversation.last_seq, stored)
    ended: list[EventFrame] = []
    for message_id in dead:
        Message.objects.filter(pk=message_id).update(
            status=Message.Status.FAILED, error_code=ErrorCode.INTERNAL, error_detail=DEAD_TURN_DETAIL,
            lease_until=None, updated_at=timezone.now(),
        )  # fmt: skip
        cid = conversation.pk
        error = protocol.turn_error(cid, 0, code=ErrorCode.INTERNAL, detail=DEAD_TURN_DETAIL, message_id=message_id)
        done = protocol.done(
            cid, 0, message_id=message_id, status=Message.Status.FAILED, finish_reason=None, usage=None
        )
        ended += append(conversation, [error, done])
    if conversation.parked_events and not conversation.messages.filter(status=Message.Status.STREAMING).exists():
        ended += append(conversation, conversation.parked_events)
        conversation.parked_events = []
    if ended:
        conversation.save(update_fields=["last_seq", "parked_events"])
        for frame in ended:
            publish_on_commit(frame)


@transaction.atomic
def append_or_park(*, conversation_id: int, frame: EventFrame) -> EventFrame | None:
    """Add an event raised outside a turn (``review_resolved``) and publish it after commit.

    Returns the numbered, stored frame — or None while a turn runs there: the turn owns the
    counter, so the event is parked and the turn stores and publishes it right after its
    ``done``. Either way it is delivered once, in order.
    """
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    fail_stale_turns(conversation)
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        conversation.parked_events = [*conversation.parked_events, frame]
        conversation.save(update_fields=["parked_events"])
        return None
    (stored,) = append(conversation, [frame])
    conversation.save(update_fields=["last_seq", "updated_at"])
    publish_on_commit(stored)
    return stored


def replay(*, conversation_id: int, after_seq: int, limit: int = 5000) -> list[EventFrame]:
    """Stored events with ``seq > after_seq``, in order."""
    rows = Event.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).order_by("seq")[:limit]
    return [cast(EventFrame, row.payload) for row in rows]


# --- A running turn's events ------------------------------------------------------------

#: Stores a batch of a turn's events (and whatever the turn keeps with them); ``final`` on the
#: last. Returns the parked events it appended after them, for the turn to publish.
Saver = Callable[[list[EventFrame], bool], Awaitable[list[EventFrame]]]


@dataclass(frozen=True, slots=True)
class Batch:
    """One running turn's part of a periodic flush: its new events and its reply's state."""

    conversation_id: int
    message_id: int
    frames: list[EventFrame]
    fields: dict[str, Any]


#: Stores the batches of many running turns at once (one transaction); returns the message ids
#: whose reply another process already ended (their events are dropped, not retried).
BatchSaver = Callable[[list[Batch]], Awaitable[set[int]]]


class TurnEvents:
    """Seq allocation, live publication and batched storage for one running turn.

    ``seq`` is the last number used (the turn's ``turn_started``); :meth:`next_seq` allocates,
    :meth:`emit` publishes at once and queues for storage. While the turn runs, its process's
    :class:`Flusher` (if given) stores what is queued together with every other turn's; the
    turn's own ``save`` stores the rest at :meth:`close`. Events leave the queue only once
    stored, so a failing database loses nothing that a later flush can store.
    """

    def __init__(
        self,
        *,
        conversation_id: int,
        seq: int,
        save: Saver,
        message_id: int = 0,
        fields: Callable[[], dict[str, Any]] = dict,
        flusher: Flusher | None = None,
    ) -> None:
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.seq = seq
        self.save = save
        self.fields = fields
        self.pending: list[EventFrame] = []
        self.dirty = False
        self.storing: asyncio.Future[None] | None = None  # the flusher's write holding our events
        self._lock = asyncio.Lock()
        self._flusher = flusher
        if flusher is not None:
            flusher.add(self)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def emit(self, frame: EventFrame) -> None:
        """Publish an event numbered by :meth:`next_seq`; it is stored at the next flush."""
        self.pending.append(frame)
        self.touch()
        await publish(frame)

    def touch(self) -> None:
        """What the turn keeps changed without an event (held text): store it at the next flush."""
        self.dirty = True
        if self._flusher is not None:
            self._flusher.wake()

    @property
    def busy(self) -> bool:
        """Storing on its own (:meth:`flush`): the flusher leaves it alone meanwhile."""
        return self._lock.locked()

    async def flush(self, *, final: bool = False) -> None:
        """Store what is pending, publish the parked events the end releases, announce it."""
        async with self._lock:
            if self.storing is not None:  # the flusher's write has our first events: after it
                await asyncio.shield(self.storing)
            self.dirty = False
            frames = list(self.pending)
            parked = await self.save(frames, final)
            del self.pending[: len(frames)]
            for frame in parked:
                await publish(frame)
            frames += parked
            if frames:  # sockets waiting on a gap read it from the database now
                await announce_stored(self.conversation_id, frames[-1]["seq"])

    async def close(self) -> bool:
        """Leave the periodic flushes and store everything, retrying a failing database for up
        to ``CHAT_STORE_RETRY_SECONDS`` (a Postgres restart). Returns whether it was stored; if
        not, the reply's lease runs out and another process ends it ``failed``."""
        if self._flusher is not None:
            self._flusher.discard(self)
        deadline = time.monotonic() + settings.CHAT_STORE_RETRY_SECONDS
        delay = 0.2
        while True:
            try:
                await self.flush(final=True)
                return True
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    logger.exception("gave up storing the end of conversation %s's turn", self.conversation_id)
                    return False
                logger.warning("storing the end of conversation %s's turn failed; retrying: %r",
                               self.conversation_id, exc)  # fmt: skip
                await asyncio.sleep(delay)  # wait-ok: backoff while the database is unreachable
                delay = min(delay * 2, 2.0)


class Flusher:
    """Periodic storage for every running turn of one process (one event loop).

    Every ``interval`` while any turn has something new, one call of ``save_many`` stores all
    their queued events and reply states in one transaction: the database work of streaming
    grows with the number of intervals, not with turns times intervals (at 100 streams and 0.5 s,
    2 transactions a second instead of 200). Runs only while turns are registered.
    """

    def __init__(self, save_many: BatchSaver, interval: float) -> None:
        self.save_many = save_many
        self.interval = interval
        self.logs: set[TurnEvents] = set()
        self._due = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, log: TurnEvents) -> None:
        self.logs.add(log)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="chat-events-flusher")

    def discard(self, log: TurnEvents) -> None:
        self.logs.discard(log)
        if not self.logs:
            self._due.set()  # lets the task see it has nothing left and end

    def wake(self) -> None:
        self._due.set()

    async def stop(self) -> None:
        """Stop the periodic task now (what is pending stays for the turns' close to store)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def flush(self) -> None:
        """Store what every registered turn has queued (those storing on their own wait)."""
        logs = [log for log in self.logs if log.dirty and not log.busy]
        if not logs:
            return
        batches = []
        for log in logs:
            log.dirty = False
            batches.append(Batch(log.conversation_id, log.message_id, list(log.pending), log.fields()))
        storing = asyncio.get_running_loop().create_future()
        for log in logs:
            log.storing = storing
        try:
            dropped = await self.save_many(batches)
        except BaseException:
            for log in logs:
                log.dirty = True  # retried at the next interval, or by the turn's close
            raise
        else:
            # Before anyone waiting on this write runs: a closing turn must not store these again.
            for log, batch in zip(logs, batches, strict=True):
                del log.pending[: len(batch.frames)]
        finally:
            storing.set_result(None)
            for log in logs:
                log.storing = None
        for batch in batches:
            if batch.message_id in dropped:
                logger.warning("reply %s was ended by another process; dropped its late events", batch.message_id)
            elif batch.frames:
                await announce_stored(batch.conversation_id, batch.frames[-1]["seq"])

    async def _run(self) -> None:
        while self.logs:  # until the last turn closed: the next one starts it again
            await self._due.wait()
            if not self.logs:
                break
            await asyncio.sleep(self.interval)
            self._due.clear()
            try:
                # Shielded: cancelling this loop (server shutdown) must not cancel a write that
                # is already queued for the database thread, or its events would be lost.
                await asyncio.shield(self.flush())
            except asyncio.CancelledError:
                raise
            except Exception:  # the next flush (or the turns' close) retries what is pending
                logger.exception("storing the running turns' events failed; will retry")
                self._due.set()
        self._due.clear()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Flusher] = weakref.WeakKeyDictionary()


def flusher(save_many: BatchSaver, interval: float) -> Flusher:
    """This event loop's :class:`Flusher` (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _flushers.get(loop)
    if found is None:
        found = _flushers[loop] = Flusher(save_many, interval)
    return found


# --- Following (pure) -------------------------------------------------------------------


@dataclass
class Follower:
    """Where one socket stands in one conversation's stream. Pure: no I/O.

    ``after_seq`` is the last event sent. Live events arrive in publication order but may
    start ahead of ``after_seq`` (sent before the socket subscribed, or stored only later);
    those wait in ``ahead`` until :meth:`stored` is given the gap from the database.
    """

    after_seq: int
    ahead: list[EventFrame] = field(default_factory=list)

    def live(self, frame: EventFrame) -> tuple[list[EventFrame], bool]:
        """A live event: what to send now, and whether to read the stored gap (:func:`replay`)."""
        if frame["seq"] <= self.after_seq:
            return [], False  # already sent
        if self.ahead or frame["seq"] != self.after_seq + 1:
            self.ahead.append(frame)
            return [], True
        self.after_seq = frame["seq"]
        return [frame], False

    def stored(self, frames: Iterable[EventFrame]) -> list[EventFrame]:
        """Stored events after ``after_seq`` (from :func:`replay`): what to send now, in order,
        with the live events waiting ahead once the gap before them is filled."""
        ahead = sorted(self.ahead, key=lambda f: f["seq"])
        out: list[EventFrame] = []
        for frame in [*frames, *ahead]:
            if frame["seq"] == self.after_seq + 1:
                self.after_seq = frame["seq"]
                out.append(frame)
        # What is still ahead of a gap waits for the running turn's next batch.
        self.ahead = [f for f in ahead if f["seq"] > self.after_seq]
        return out

    def behind(self, stored_seq: int) -> bool:
        """Events up to ``stored_seq`` are now stored: is there any this socket has not sent?

        True while live events wait ahead of a gap, and also for a socket that subscribed
        after the last live event was published but before it was stored (nothing live
        follows to reveal that gap).
        """
        return stored_seq > self.after_seq
