"""What one turn tells the metrics and the log: its timeline, its chunks, its tokens and cost.

``chat.turns`` calls a :class:`TurnTelemetry` at the points it already passes: once per turn,
once per checked chunk, never per token (the first-token probe is one pass-through hop). The
timeline is logged at INFO as ``turn <event>`` lines carrying ``event`` and the turn's ids
(``observability.logs``), so ``grep 'message=42'`` (or ``"message_id": 42`` in JSON) shows a
reply's whole life: started, first_token, first_shown_text, held, refused, done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from django.conf import settings

from guardrails.checks import Verdict
from guardrails.chunking import Chunk
from observability import logs, metrics

logger = logging.getLogger("chat.turns")


def usage_tokens(usage: dict[str, int] | None) -> tuple[int | None, int | None]:
    """``(tokens_in, tokens_out)`` from a backend's usage (either may be unknown)."""
    if not usage:
        return None, None
    return usage.get("prompt_tokens"), usage.get("completion_tokens")


def estimated_cost(tokens_in: int, tokens_out: int) -> float:
    """``LLM_COST_PER_1K_INPUT`` and ``LLM_COST_PER_1K_OUTPUT`` applied to a token count."""
    return tokens_in / 1000 * settings.LLM_COST_PER_1K_INPUT + tokens_out / 1000 * settings.LLM_COST_PER_1K_OUTPUT


class TurnTelemetry:
    """Metrics and timeline of one turn; every method is cheap and never raises into the turn."""

    def __init__(self, *, conversation_id: int, message_id: int) -> None:
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.started_at = time.monotonic()
        self.last_shown_at: float | None = None
        self.running = False

    def _log(self, event: str, text: str = "", **fields: Any) -> None:
        ms = round((time.monotonic() - self.started_at) * 1000)
        logger.info(
            "turn %s conversation=%s message=%s at=%dms%s",
            event,
            self.conversation_id,
            self.message_id,
            ms,
            f" {text}" if text else "",
            extra={"event": event, "elapsed_ms": ms, **fields},
        )

    def started(self) -> None:
        """Bind the ids for every log line of this turn (its own task's context) and count it."""
        logs.bind(conversation_id=self.conversation_id, message_id=self.message_id)
        metrics.TURNS_RUNNING.inc()
        self.running = True
        self._log("started")

    def first_token(self, items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Stage: passes items through; logs when the first one (the first token) arrives."""

        async def stage() -> AsyncIterator[Any]:
            first = True
            async for item in items:
                if first:
                    first = False
                    self._log("first_token")
                yield item

        return stage()

    def checked(self, chunk: Chunk) -> None:
        metrics.CHUNKS_CHECKED.inc()
        metrics.MODERATION_DELAY.observe(max(0.0, time.monotonic() - chunk.closed_at))

    def shown(self) -> None:
        """A chunk of checked text went out as a ``delta``."""
        now = time.monotonic()
        if self.last_shown_at is None:
            metrics.FIRST_SHOWN_TEXT.observe(now - self.started_at)
            self._log("first_shown_text")
        else:
            metrics.SHOWN_CHUNK_GAP.observe(now - self.last_shown_at)
        self.last_shown_at = now

    def held(self, reasons: Sequence[Verdict], *, segment: int, opens: bool) -> None:
        for v in reasons:
            metrics.CHUNKS_HELD.labels(check=v.check, label=v.label).inc()
        if opens:
            because = ", ".join(f"{v.check}:{v.label}" for v in reasons)
            self._log("held", f"segment={segment} reasons={because}", segment=segment)

    def flagged(self, verdicts: Sequence[Verdict]) -> None:
        for v in verdicts:
            metrics.CHUNKS_FLAGGED.labels(check=v.check, label=v.label).inc()

    def refused(self, verdicts: Sequence[Verdict]) -> None:
        for v in verdicts:
            metrics.INPUT_REFUSALS.labels(check=v.check, label=v.label).inc()
        self._log("refused", " ".join(f"{v.check}:{v.label}" for v in verdicts))

    def backend_error(self, code: str) -> None:
        metrics.BACKEND_ERRORS.labels(code=code).inc()

    def done(self, *, status: str, finish_reason: str, usage: dict[str, int] | None) -> None:
        if self.running:
            metrics.TURNS_RUNNING.dec()
            self.running = False
        metrics.TURNS.labels(status=status).inc()
        tokens_in, tokens_out = usage_tokens(usage)
        model = settings.LLM_MODEL
        if tokens_in:
            metrics.INPUT_TOKENS.labels(model=model).inc(tokens_in)
        if tokens_out:
            metrics.OUTPUT_TOKENS.labels(model=model).inc(tokens_out)
        cost = estimated_cost(tokens_in or 0, tokens_out or 0)
        if cost:
            metrics.ESTIMATED_COST.labels(model=model).inc(cost)
        self._log(
            "done",
            f"status={status} finish={finish_reason or '-'} tokens_in={tokens_in} tokens_out={tokens_out}",
            status=status,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )
