"""The moderation recipe: the one place that says which stages check a reply, in which order.

Used by the turn (``chat/turns.py``), the tests and both benchmarks, so what they measure is
what runs. No Django: the caller passes the settings and the checker.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from guardrails import chunking, policy, stages
from guardrails.checks import Checker
from guardrails.chunking import Chunk

if TYPE_CHECKING:
    from guardrails.conf import GuardrailsSettings


def moderation(
    config: GuardrailsSettings, checker: Checker, *, clock: Callable[[], float] = time.monotonic
) -> list[stages.Stage]:
    """Tokens → sentence chunks (also cut on time: a small first chunk, then at most
    ``chunk_max_ms`` of waiting) → every check → the hold/release policy.

    With ``config.enabled`` false (``GUARDRAILS_ENABLED=false``, for measuring the relay
    alone) every token is released unchecked as its own chunk: not a product mode. ``clock``
    times the chunks' time cuts (tests pass a fake one).
    """
    if not config.enabled:
        return [unchecked()]
    return [
        chunking.sentences(
            max_chars=config.chunk_max_chars,
            max_ms=config.chunk_max_ms,
            first_ms=config.first_chunk_ms,
            first_chars=config.first_chunk_chars,
            clock=clock,
        ),
        stages.moderate(checker, context_chars=config.context_chars),
        policy.apply(policy.PolicyConfig.from_value(config.on_fail)),
    ]


def unchecked() -> stages.Stage:
    """Stage: each token's shown text released at once as a :class:`policy.Release`; special
    tokens dropped; other items (``Finish``) pass through."""

    async def stage(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        offset = 0
        async for item in items:
            text = chunking.token_text(item)
            if text is None:
                yield item
            elif text:
                yield policy.Release(Chunk(offset, text, offset))
                offset += len(text)

    return stage
