"""One reply, from the user's message to ``done``: the only place that orders the stages.

A turn runs as an ``asyncio.Task`` that is not tied to any socket: a dropped socket does
not stop it, the reply is generated and stored whole, and any socket that follows the
conversation (on any process) sees its events through the channel layer.

Events are published at once and stored in batches (``EventLog``): the database is
written a few times a second per turn, never per token. While a turn runs it alone
allocates its conversation's ``seq`` numbers, so they are contiguous and ordered as
published; consumers rely on that to replay each event exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat import llm, services
from chat.models import Message
from chat.protocol import ErrorCode
from chat.realtime import control_group, conversation_group, publish
from chat.services import TurnStart

logger = logging.getLogger(__name__)


# --- Event log --------------------------------------------------------------------------


@dataclass
class ReplyState:
    """The reply as stored: all generated text, and the segments the user sees."""

    text: list[str] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    status: str = Message.Status.STREAMING
    finish_reason: str = ""
    usage: dict[str, int] | None = None
    error_code: str = ""
    error_detail: str = ""

    def release(self, text: str, start: int) -> None:
        if self.segments and self.segments[-1]["kind"] == "released":
            self.segments[-1]["text"] += text
        else:
            self.segments.append({"kind": "released", "text": text, "start": start})

    def fields(self) -> dict[str, Any]:
        return {
            "text": "".join(self.text),
            "segments": self.segments,
            "status": self.status,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "error_code": self.error_code,
            "error_detail": self.error_detail,
        }


class EventLog:
    """Seq allocation, live publication and batched storage for one running turn."""

    def __init__(self, start: TurnStart, reply: ReplyState, *, flush_interval: float) -> None:
        self.conversation_id = start.conversation_id
        self.message_id = start.message_id
        self.seq = start.started_frame["seq"]
        self.reply = reply
        self.flush_interval = flush_interval
        self._pending: list[dict[str, Any]] = []
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._flusher = asyncio.create_task(self._flush_periodically())

    async def emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        frame = {"type": type_, "conversation_id": self.conversation_id, "seq": self.seq, **fields}
        self._pending.append(frame)
        self._dirty.set()
        await publish(self.conversation_id, frame)
        return frame

    def touch(self) -> None:
        """The reply changed without an event (held text): store it at the next flush."""
        self._dirty.set()

    async def flush(self, *, final: bool = False) -> None:
        """Store what is pending. Events leave the buffer only once they are stored."""
        async with self._lock:
            self._dirty.clear()
            events = list(self._pending)
            parked = await database_sync_to_async(services.turn_record)(
                conversation_id=self.conversation_id,
                message_id=self.message_id,
                events=events,
                message_fields=self.reply.fields(),
                final=final,
            )
            del self._pending[: len(events)]
            for frame in parked:
                await publish(self.conversation_id, frame)
            events += parked
            if events:
                # Sockets that are catching up wait for this to read the gap from the database.
                await get_channel_layer().group_send(
                    conversation_group(self.conversation_id),
                    {"type": "chat.flushed", "conversation_id": self.conversation_id, "upto": events[-1]["seq"]},
                )

    async def close(self, attempts: int = 5) -> None:
        """Stop the periodic flusher and store everything, retrying a failing database."""
        self._flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flusher
        for attempt in range(attempts):
            try:
                await self.flush(final=True)
                return
            except Exception:
                logger.exception("storing the end of reply %s failed (attempt %d)", self.message_id, attempt + 1)
                await asyncio.sleep(0.2 * 2**attempt)

    async def _flush_periodically(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.flush_interval)
            try:
                # Shielded: cancelling this loop (at close) must not cancel a write that is
                # already queued for the database thread, or its events would be lost.
                await asyncio.shield(self.flush())
            except asyncio.CancelledError:
                raise
            except Exception:  # the next flush (or close) retries with everything pending
                logger.exception("storing events of reply %s failed; will retry", self.message_id)


# --- Running turns ----------------------------------------------------------------------

# message_id -> task, for the turns running in this process.
RUNNING: dict[int, asyncio.Task[None]] = {}
# Turns asked to stop. Cancelling alone is not enough: a library that swallows a
# CancelledError (a known asyncio.wait_for race before 3.12) would lose the stop, so the
# turn also checks this after every item it receives.
STOPPING: set[int] = set()


class StopRequested(Exception):
    """Raised inside a turn that saw its stop flag."""


def start(turn: TurnStart) -> asyncio.Task[None]:
    """Run the turn in the background; it outlives the socket that started it."""
    task = asyncio.create_task(run_turn(turn), name=f"turn-{turn.message_id}")
    RUNNING[turn.message_id] = task

    def forget(_: asyncio.Task[None]) -> None:
        RUNNING.pop(turn.message_id, None)
        STOPPING.discard(turn.message_id)

    task.add_done_callback(forget)
    return task


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
    await get_channel_layer().group_send(control_group(message_id), {"type": "turn.stop"})


async def _listen_for_stop(message_id: int, task: asyncio.Task[None]) -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(control_group(message_id), channel)
    try:
        while True:
            message = await layer.receive(channel)
            if message.get("type") == "turn.stop":
                _stop_here(message_id, task)
                return
    finally:
        with contextlib.suppress(Exception):
            await layer.group_discard(control_group(message_id), channel)


async def run_turn(turn: TurnStart) -> None:
    """Generate, check and publish one reply, then ``done``. Never raises (but cancels)."""
    reply = ReplyState()
    log = EventLog(turn, reply, flush_interval=settings.CHAT_EVENT_FLUSH_MS / 1000)
    stop_listener = asyncio.create_task(_listen_for_stop(turn.message_id, asyncio.current_task()))  # type: ignore[arg-type]
    try:
        await _generate(turn, reply, log)
    except (asyncio.CancelledError, StopRequested):
        reply.status = Message.Status.STOPPED
        reply.finish_reason = "stopped"
    except llm.BackendError as exc:
        logger.warning("reply %s failed: %s: %s", turn.message_id, type(exc).__name__, exc)
        reply.status, reply.error_code, reply.error_detail = Message.Status.FAILED, exc.code, str(exc)
        await log.emit("error", code=exc.code, detail=str(exc), message_id=turn.message_id)
    except Exception:
        logger.exception("reply %s crashed", turn.message_id)
        reply.status, reply.error_code = Message.Status.FAILED, ErrorCode.INTERNAL
        reply.error_detail = "Something went wrong on our side while writing this reply."
        await log.emit("error", code=ErrorCode.INTERNAL, detail=reply.error_detail, message_id=turn.message_id)
    finally:
        stop_listener.cancel()
    # Shielded: a server shutdown cancelling the turn again must not lose its end.
    await asyncio.shield(_finish(turn, reply, log))


async def _finish(turn: TurnStart, reply: ReplyState, log: EventLog) -> None:
    await log.emit(
        "done",
        message_id=turn.message_id,
        status=reply.status,
        finish_reason=reply.finish_reason or None,
        usage=reply.usage,
    )
    await log.close()


async def _generate(turn: TurnStart, reply: ReplyState, log: EventLog) -> None:
    started = time.monotonic()
    shown = 0
    stream = llm.get_backend().stream(turn.history)
    async with contextlib.aclosing(stream):
        async for item in stream:
            if turn.message_id in STOPPING:
                raise StopRequested
            if isinstance(item, llm.Token):
                if item.special or not item.text:
                    continue
                reply.text.append(item.text)
                reply.release(item.text, shown)
                shown += len(item.text)
                await log.emit("delta", message_id=turn.message_id, text=item.text)
            elif isinstance(item, llm.Finish):
                reply.finish_reason = item.reason
                reply.usage = item.usage or (
                    {"completion_tokens": item.generated_tokens} if item.generated_tokens is not None else None
                )
    reply.status = Message.Status.COMPLETE
    logger.debug("reply %s complete in %.2fs", turn.message_id, time.monotonic() - started)
