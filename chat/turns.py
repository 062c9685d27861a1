"""One reply, from the user's message to ``done``: input check → stages → events → done.

A turn runs as an ``asyncio.Task`` that is not tied to any socket: a dropped socket does not
stop it, the reply is generated and stored whole, and every socket following the conversation
(on any process) sees its events. Numbering, publication and batched storage of those events
belong to ``chat.events``; stopping a turn from any process to ``chat.control``; the order of
the moderation stages to ``guardrails.pipeline.moderation``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from channels.db import database_sync_to_async
from django.conf import settings

from chat import control, events, leases, llm, protocol, services
from chat.models import Message
from chat.progress import CheckingProgress
from chat.protocol import ErrorCode, EventFrame, Reason
from chat.reply import Reply
from chat.services import TurnStart
from chat.telemetry import TurnTelemetry
from guardrails import conf as guardrails_conf
from guardrails import input_check, pii, pipeline, policy, stages, wiring
from guardrails import services as guardrails_services
from guardrails.checks import Verdict
from guardrails.services import Action

logger = logging.getLogger(__name__)


def start(turn: TurnStart) -> asyncio.Task[None]:
    """Run the turn in the background; it outlives the socket that started it."""
    task = asyncio.create_task(run_turn(turn), name=f"turn-{turn.message_id}")
    control.register(turn.message_id, task)
    leases.keep()  # renews this turn's lease while it runs
    return task


async def run_turn(turn: TurnStart) -> None:
    """Generate, check and publish one reply, then ``done``. Never raises (but cancels)."""
    reply = Reply()
    telemetry = TurnTelemetry(conversation_id=turn.conversation_id, message_id=turn.message_id)
    telemetry.started()

    async def save(frames: list[EventFrame], final: bool) -> list[EventFrame]:
        return await database_sync_to_async(services.reply_save)(
            conversation_id=turn.conversation_id,
            message_id=turn.message_id,
            frames=frames,
            fields=reply.fields(),
            final=final,
            needs_review=final and reply.needs_review,
        )

    log = events.TurnEvents(
        conversation_id=turn.conversation_id,
        message_id=turn.message_id,
        seq=turn.started_frame["seq"],
        save=save,
        fields=reply.fields,
        flusher=events.flusher(_save_many, settings.CHAT_EVENT_FLUSH_MS / 1000),
    )
    channel = control.channel()
    try:
        await channel.join(turn.message_id)
        await _generate(turn, reply, log, telemetry)
    except (asyncio.CancelledError, control.StopRequested):
        reply.status, reply.finish_reason = Message.Status.STOPPED, "stopped"
    except llm.BackendError as exc:
        # The user sees str(exc); the log keeps what the server or the network actually said.
        logger.warning("reply %s failed: %s: %s", turn.message_id, type(exc).__name__, exc.detail or exc)
        reply.status, reply.error_code, reply.error_detail = Message.Status.FAILED, exc.code, str(exc)
        telemetry.backend_error(exc.code)
        await _error(turn, log, exc.code, str(exc))
    except Exception:
        logger.exception("reply %s crashed", turn.message_id)
        reply.status, reply.error_code = Message.Status.FAILED, ErrorCode.INTERNAL
        reply.error_detail = "Something went wrong on our side while writing this reply."
        await _error(turn, log, ErrorCode.INTERNAL, reply.error_detail)
    # Shielded: a server shutdown cancelling the turn again must not lose its end.
    try:
        await asyncio.shield(_finish(turn, reply, log, channel))
    finally:
        telemetry.done(status=reply.status, finish_reason=reply.finish_reason, usage=reply.usage)


_save_many = database_sync_to_async(services.replies_save)


async def _generate(turn: TurnStart, reply: Reply, log: events.TurnEvents, telemetry: TurnTelemetry) -> None:
    # 1. Input gate: a spent daily token budget or a refused message never reaches the LLM.
    budget = turn.budget_refusal
    refusal = budget or await input_check.check_input(turn.user_text)
    if refusal:
        telemetry.refused(refusal)
        if not budget:
            await _record(turn.message_id, refusal, action="refuse")
        reply.status, reply.finish_reason = Message.Status.REFUSED, "refused"
        reply.error_detail = input_check.plain_reason(refusal)
        return

    # 2. Stages: the LLM's tokens through the moderation recipe.
    cid, mid = turn.conversation_id, turn.message_id
    # The checker may let the reply read back contact details the user gave in this conversation.
    said = [m["content"] for m in turn.history if m["role"] == "user"]
    moderation = pipeline.moderation(guardrails_conf.load(), wiring.get_checker().for_conversation(said))
    # turn.history is masked (GUARDRAILS_PII); the last stage puts the user's own values back
    # into released text, after the checks judged the model's text.
    restore = pii.restore_released(turn.pii_mapping)

    async def report(pending_chars: int) -> None:
        await log.emit(protocol.checking(cid, log.next_seq(), message_id=mid, pending_chars=pending_chars))

    progress = CheckingProgress(report)
    stream = stages.compose(
        telemetry.first_token(llm.get_backend().stream(turn.history)), progress.stage, *moderation, restore
    )

    # 3. Events: released text as deltas, a placeholder per held segment.
    async with contextlib.aclosing(stream):  # type: ignore[type-var]  # stages are async generators
        async for item in stream:
            control.check(mid)
            if isinstance(item, policy.Release | policy.Hold):
                progress.answered = True
            if isinstance(item, policy.Release):
                telemetry.checked(item.chunk)
                reply.text.append(item.chunk.text)
                reply.segments.release(item.chunk.text, item.chunk.start)
                await log.emit(protocol.delta(cid, log.next_seq(), message_id=mid, text=item.chunk.text))
                telemetry.shown()
                if item.flagged_by:
                    reply.flagged = True
                    telemetry.flagged(item.flagged_by)
                    await _record(mid, item.flagged_by)
            elif isinstance(item, policy.Hold):
                telemetry.checked(item.chunk)
                telemetry.held(item.reasons, segment=item.segment, opens=item.opens_segment)
                telemetry.flagged(item.flagged_by)
                reasons = [cast(Reason, v.as_reason()) for v in item.reasons]
                reply.text.append(item.chunk.text)
                reply.segments.hold(item.segment, item.chunk.text, item.chunk.start, reasons, opens=item.opens_segment)
                if item.opens_segment:
                    placeholder = settings.GUARDRAILS_PLACEHOLDER
                    await log.emit(
                        protocol.held(
                            cid, log.next_seq(), message_id=mid, segment=item.segment, reasons=reasons,
                            placeholder=placeholder,
                        )
                    )  # fmt: skip
                else:
                    log.touch()
                await _record(mid, [*item.reasons, *item.flagged_by])
            elif isinstance(item, policy.StopGeneration):
                reply.finish_reason = "moderation"  # GUARDRAILS_ON_FAIL=stop
            elif isinstance(item, llm.Finish):
                reply.finish_reason = item.reason
                tokens = item.generated_tokens
                reply.usage = item.usage or ({"completion_tokens": tokens} if tokens is not None else None)
    reply.status = Message.Status.HELD if reply.segments.held else Message.Status.COMPLETE


async def _finish(turn: TurnStart, reply: Reply, log: events.TurnEvents, channel: control.ControlChannel) -> None:
    # 4. Done: the final state and the parked events are stored, then the turn is over.
    await channel.leave(turn.message_id)
    if reply.status == Message.Status.STREAMING:  # ended without a Finish (a moderation stop)
        reply.status = Message.Status.HELD if reply.segments.held else Message.Status.COMPLETE
    done = protocol.done(
        turn.conversation_id,
        log.next_seq(),
        message_id=turn.message_id,
        status=reply.status,
        finish_reason=reply.finish_reason or None,
        usage=reply.usage,
        reason=reply.error_detail if reply.status == Message.Status.REFUSED else None,
    )
    await log.emit(done)
    await log.close()


async def _error(turn: TurnStart, log: events.TurnEvents, code: str, detail: str) -> None:
    seq = log.next_seq()
    await log.emit(protocol.turn_error(turn.conversation_id, seq, code=code, detail=detail, message_id=turn.message_id))


async def _record(message_id: int, verdicts: list[Verdict], action: Action | None = None) -> None:
    if verdicts:
        await database_sync_to_async(guardrails_services.moderation_events_record)(
            message_id=message_id,
            verdicts=verdicts,
            action=action,
        )
