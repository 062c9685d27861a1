"""What a user sees while the first text of a reply waits for its checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from chat import llm


class CheckingProgress:
    """Protocol ``checking`` frames while the reply's first text waits for its checks.

    A stage between the LLM and the moderation stages that counts generated characters and
    reports how many wait (never the text): once at the first token, then whenever the count
    has doubled (at least ``min_step`` more), until the turn sees its first released or held
    text (``answered``). A handful of frames per turn, not one per token.
    """

    def __init__(self, report: Callable[[int], Awaitable[None]], *, min_step: int = 200) -> None:
        self.report = report
        self.min_step = min_step
        self.answered = False
        self.generated = 0
        self.reported: int | None = None

    async def stage(self, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async with contextlib.aclosing(source):  # type: ignore[type-var]
            async for item in source:
                if isinstance(item, llm.Token) and not item.special and item.text:
                    self.generated += len(item.text)
                    if not self.answered and self._due():
                        self.reported = self.generated
                        await self.report(self.generated)
                yield item

    def _due(self) -> bool:
        if self.reported is None:
            return True
        return self.generated >= max(2 * self.reported, self.reported + self.min_step)
