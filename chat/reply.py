"""A reply while its turn runs: what is stored, and what the user sees of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chat.models import Message
from chat.segments import Segments
from chat.telemetry import usage_tokens


@dataclass
class Reply:
    """The reply as stored: all generated text (held parts too) and the segments the user sees."""

    text: list[str] = field(default_factory=list)
    segments: Segments = field(default_factory=Segments)
    status: str = Message.Status.STREAMING
    finish_reason: str = ""
    usage: dict[str, int] | None = None
    error_code: str = ""
    error_detail: str = ""
    # Released text that a flag-severity check marked: shown, but a reviewer looks at it.
    flagged: bool = False

    @property
    def needs_review(self) -> bool:
        return bool(self.segments.held) or self.flagged

    def fields(self) -> dict[str, Any]:
        tokens_in, tokens_out = usage_tokens(self.usage)
        return {
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "text": "".join(self.text),
            "segments": self.segments.to_json(),
            "status": self.status,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "error_code": self.error_code,
            "error_detail": self.error_detail,
        }
