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
import weakref
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
from guardrails import chunking, input_check, pii, pipeline, policy, wiring
from guardrails import conf as guardrails_conf
from guardrails import services as guardrails_services
from guardrails.checks import Verdict

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
    # Released text that a flag-severity check marked: shown, but a reviewer looks at it.
    flagged: bool = False

    @property
    def held(self) -> bool:
        return any(segment["kind"] == "held" for segment in self.segments)

    @property
    def needs_review(self) -> bool:
        return self.held or self.flagged

    def release(self, text: str, start: int) -> None:
        self.text.append(text)
        if self.segments and self.segments[-1]["kind"] == "released":
            self.segments[-1]["text"] += text
        else:
            self.segments.append({"kind": "released", "text": text, "start": start})

    def hold(self, hold: policy.Hold) -> None:
        """Store held text in its segment; it is never shown until a reviewer decides."""
        self.text.append(hold.chunk.text)
        reasons = [v.as_reason() for v in hold.reasons]
        if hold.opens_segment:
            self.segments.append(
                {
                    "kind": "held",
                    "segment": hold.segment,
                    "text": hold.chunk.text,
                    "start": hold.chunk.start,
                    "reasons": reasons,
                }
            )
            return
        segment = next(s for s in reversed(self.segments) if s.get("segment") == hold.segment)
        segment["text"] += hold.chunk.text
        segment["reasons"] += reasons

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
                needs_review=final and self.reply.needs_review,
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
    await get_channel_layer().group_send(control_group(message_id), {"type": "turn.stop", "message_id": message_id})


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
        layer = get_channel_layer()
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


def _control() -> ControlChannel:
    return _controls.setdefault(asyncio.get_running_loop(), ControlChannel())


async def close_control() -> None:
    """Stop this loop's control listener (server shutdown, end of a test)."""
    control = _controls.pop(asyncio.get_running_loop(), None)
    if control is not None and control.task is not None:
        control.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(control.task, 5)


async def run_turn(turn: TurnStart) -> None:
    """Generate, check and publish one reply, then ``done``. Never raises (but cancels)."""
    reply = ReplyState()
    log = EventLog(turn, reply, flush_interval=settings.CHAT_EVENT_FLUSH_MS / 1000)
    control = _control()
    try:
        await control.join(turn.message_id)
        await _generate(turn, reply, log)
    except (asyncio.CancelledError, StopRequested):
        reply.status = Message.Status.STOPPED
        reply.finish_reason = "stopped"
    except llm.BackendError as exc:
        # The user sees str(exc); the log keeps what the server or the network actually said.
        logger.warning("reply %s failed: %s: %s", turn.message_id, type(exc).__name__, exc.detail or exc)
        reply.status, reply.error_code, reply.error_detail = Message.Status.FAILED, exc.code, str(exc)
        await log.emit("error", code=exc.code, detail=str(exc), message_id=turn.message_id)
    except Exception:
        logger.exception("reply %s crashed", turn.message_id)
        reply.status, reply.error_code = Message.Status.FAILED, ErrorCode.INTERNAL
        reply.error_detail = "Something went wrong on our side while writing this reply."
        await log.emit("error", code=ErrorCode.INTERNAL, detail=reply.error_detail, message_id=turn.message_id)
    # Shielded: a server shutdown cancelling the turn again must not lose its end.
    await asyncio.shield(_finish(turn, reply, log, control))


async def _finish(turn: TurnStart, reply: ReplyState, log: EventLog, control: ControlChannel) -> None:
    await control.leave(turn.message_id)
    if reply.status == Message.Status.STREAMING:  # ended without a Finish (a moderation stop)
        reply.status = Message.Status.HELD if reply.held else Message.Status.COMPLETE
    done: dict[str, Any] = {"status": reply.status, "finish_reason": reply.finish_reason or None, "usage": reply.usage}
    if reply.status == Message.Status.REFUSED:
        done["reason"] = reply.error_detail  # not in DESIGN §4's table: the plain reason
    await log.emit("done", message_id=turn.message_id, **done)
    await log.close()


def moderation_stages() -> list[pipeline.Stage]:
    """Tokens → sentence chunks → every check → the hold/release policy."""
    cfg = guardrails_conf.load()
    return [
        chunking.sentences(max_chars=cfg.chunk_max_chars),
        pipeline.moderate(wiring.get_checker(), context_chars=cfg.context_chars),
        policy.apply(policy.PolicyConfig.from_value(cfg.on_fail)),
    ]


async def _record(message_id: int, verdicts: list[Verdict], action: str | None = None) -> None:
    if verdicts:
        await database_sync_to_async(guardrails_services.moderation_events_record)(
            message_id=message_id,
            verdicts=verdicts,
            action=action,  # type: ignore[arg-type]
        )


async def _generate(turn: TurnStart, reply: ReplyState, log: EventLog) -> None:
    refusal = await input_check.check_input(turn.user_text)
    if refusal:  # the LLM is never called
        await _record(turn.message_id, refusal, action="refuse")
        reply.status, reply.finish_reason = Message.Status.REFUSED, "refused"
        reply.error_detail = input_check.plain_reason(refusal)
        return

    message_id = turn.message_id
    # turn.history is masked (GUARDRAILS_PII); the last stage puts the user's own values back
    # into released text, after the checks judged the model's text.
    stages = [*moderation_stages(), pii.restore_released(turn.pii_mapping)]
    stream = pipeline.compose(llm.get_backend().stream(turn.history), *stages)
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        async for item in stream:
            if message_id in STOPPING:
                raise StopRequested
            if isinstance(item, policy.Release):
                reply.release(item.chunk.text, item.chunk.start)
                await log.emit("delta", message_id=message_id, text=item.chunk.text)
                if item.flags:
                    reply.flagged = True
                    await _record(message_id, item.flags)
            elif isinstance(item, policy.Hold):
                reply.hold(item)
                if item.opens_segment:
                    await log.emit(
                        "held",
                        message_id=message_id,
                        segment=item.segment,
                        reasons=[v.as_reason() for v in item.reasons],
                        placeholder=settings.GUARDRAILS_PLACEHOLDER,
                    )
                else:
                    log.touch()
                await _record(message_id, [*item.reasons, *item.flags])
            elif isinstance(item, policy.StopGeneration):
                reply.finish_reason = "moderation"  # GUARDRAILS_ON_FAIL=stop
            elif isinstance(item, llm.Finish):
                reply.finish_reason = item.reason
                reply.usage = item.usage or (
                    {"completion_tokens": item.generated_tokens} if item.generated_tokens is not None else None
                )
    reply.status = Message.Status.HELD if reply.held else Message.Status.COMPLETE
