"""A reply's segments: what the user sees of it, stored as JSON on ``Message.segments``.

A reply is a run of segments. A ``released`` segment is text that passed every check and was
shown. A ``held`` segment is text that was withheld (stored for the reviewer, never shown): the
user sees a placeholder until a reviewer resolves it, then the resolution's text. One value
type serves the turn (building), the services (resolving), the selectors (the page snapshot)
and the model (``shown_text``), so the three shapes (stored, snapshot, frame) come from here.

Stored JSON (unchanged): ``{"kind": "released", "text", "start"}`` and
``{"kind": "held", "segment", "text", "start", "reasons", "resolution"?}`` (``segment`` and
``reasons`` are absent on a flagged reply replaced whole; ``resolution`` is
``{"decision", "text"}`` once decided).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from chat.protocol import Reason

Kind = Literal["released", "held"]


class Resolution(TypedDict):
    decision: str
    text: str


class ShownSegment(TypedDict, total=False):
    """A segment as the page snapshot sends it: never the held text itself."""

    kind: Kind
    text: str
    placeholder: str
    resolved: bool
    decision: str | None


@dataclass
class Segment:
    kind: Kind
    text: str
    start: int | None = None
    index: int | None = None  # held segments: 0-based among the reply's held segments
    reasons: list[Reason] | None = None
    resolution: Resolution | None = None

    @property
    def held(self) -> bool:
        return self.kind == "held"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Segment:
        return cls(
            kind="held" if data.get("kind") == "held" else "released",
            text=str(data.get("text", "")),
            start=data.get("start"),
            index=data.get("segment"),
            reasons=data.get("reasons"),
            resolution=data.get("resolution") or None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.index is not None:
            out["segment"] = self.index
        out["text"] = self.text
        if self.start is not None:
            out["start"] = self.start
        if self.reasons is not None:
            out["reasons"] = self.reasons
        if self.resolution is not None:
            out["resolution"] = self.resolution
        return out

    def shown(self, placeholder: str) -> str:
        """What the user sees of this segment now."""
        if not self.held:
            return self.text
        return self.resolution["text"] if self.resolution else placeholder


@dataclass
class Segments:
    """A reply's segments, in order."""

    items: list[Segment] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]] | None) -> Segments:
        return cls([Segment.from_json(item) for item in data or []])

    def to_json(self) -> list[dict[str, Any]]:
        return [segment.to_json() for segment in self.items]

    @property
    def held(self) -> list[Segment]:
        return [segment for segment in self.items if segment.held]

    def release(self, text: str, start: int) -> None:
        """Append shown text, joining a released segment that is still open."""
        if self.items and not self.items[-1].held:
            self.items[-1].text += text
        else:
            self.items.append(Segment("released", text, start))

    def hold(self, index: int, text: str, start: int, reasons: list[Reason], *, opens: bool) -> None:
        """Withhold text: open held segment ``index``, or add to it (``opens`` False)."""
        if opens:
            self.items.append(Segment("held", text, start, index=index, reasons=list(reasons)))
            return
        segment = next(s for s in reversed(self.items) if s.index == index)
        segment.text += text
        segment.reasons = [*(segment.reasons or []), *reasons]

    def resolve(
        self, decision: str, text: str, *, as_shown: Callable[[str], str] = str
    ) -> tuple[str, Literal["held", "reply"]]:
        """Apply a reviewer's decision; return the text now shown and what it replaces.

        ``approved`` shows the held text as generated, passed through ``as_shown`` (which puts
        back what was masked on the way to the model); otherwise ``text`` is shown in place of
        the held part (once, for the first held segment). A reply with no held part (flagged:
        shown, then reviewed) is replaced whole unless approved.
        """
        held = self.held
        if decision == "approved":
            for segment in held:
                segment.resolution = {"decision": decision, "text": as_shown(segment.text)}
            return "".join(as_shown(s.text) for s in held), "held"
        if held:
            for n, segment in enumerate(held):
                segment.resolution = {"decision": decision, "text": text if n == 0 else ""}
            return text, "held"
        whole = "".join(s.text for s in self.items)
        self.items = [Segment("held", whole, 0, resolution={"decision": decision, "text": text})]
        return text, "reply"

    def resolved_texts(self) -> list[str]:
        """What each held segment shows once resolved, in order (the frame's ``segments``)."""
        return [s.resolution["text"] if s.resolution else "" for s in self.held]

    def shown_text(self, placeholder: str) -> str:
        """What the user sees now: released text, held parts as placeholder or resolution."""
        return "".join(segment.shown(placeholder) for segment in self.items)

    def shown(self, placeholder: str) -> list[ShownSegment]:
        """The snapshot's shape: released text; held parts as placeholder or resolution."""
        out: list[ShownSegment] = []
        for segment in self.items:
            if not segment.held:
                out.append({"kind": "released", "text": segment.text})
                continue
            resolution = segment.resolution
            out.append(
                {
                    "kind": "held",
                    "text": resolution["text"] if resolution else "",
                    "placeholder": placeholder,
                    "resolved": resolution is not None,
                    "decision": resolution["decision"] if resolution else None,
                }
            )
        return out
