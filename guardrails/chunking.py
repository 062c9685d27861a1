"""Tokens → chunks: the unit that is checked, then released or held.

A chunk closes at a sentence end (terminal punctuation followed by whitespace), at a newline,
at ``max_chars`` (a cap, so text without punctuation still flows with bounded latency), or when
the token stream ends. These boundaries depend only on the text, never on how it was split into
tokens, so the same reply always chunks the same way.

A chunk may also close on *time* (boundary ``"time"``): the first chunk once its oldest text has
waited ``first_ms`` or it holds ``first_chars`` characters, later ones after ``max_ms``, so the
first words show quickly and later text waits at most about a sentence (reading speed hides
that). A time cut is decided when a token arrives and falls just after the last whitespace in
the pending text.

Invariants (tests/guardrails/test_chunking.py checks them as properties):

* the chunks of a stream concatenate to its shown text, in order, with ``start`` offsets that
  follow on;
* no chunk ends inside a word: every chunk but the last ends in whitespace or right after
  sentence punctuation followed by whitespace, except a ``"cap"`` cut through a run of
  non-space longer than half the cap (which ``stages.moderate`` releases only together with
  the next chunk's verdicts).

A time cut can split a multi-word phrase; the checking stage gives each chunk the text before
it as context, so the phrase is seen whole when its last part arrives and is held from the cut
on: its first words may show, the whole phrase never does. A time cut can also leave a few words
that look bad out of their sentence ("This vacuum sucks "): a ``"time"`` chunk that holds on its
own is judged again as one text with the next chunk before it is decided, and released if that
passes (``stages.moderate``). A span lying wholly inside it is in that text too: it stays held.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Boundary = Literal["sentence", "newline", "cap", "end", "time"]

# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) and then
# whitespace; the whitespace is part of the chunk. "3.5", "e-mail.com" and "..." mid-line do
# not end sentences because no whitespace follows. Nor does a stop after a lone letter
# ("d . u . m . b", "e.g. ", "Plan B. "): letters spelled out one by one are one word to the
# checks, and a boundary there would release its first letters before the word is seen whole.
# A newline always ends a chunk.
_BOUNDARY = re.compile(
    r"(?<![\s.*_\-][A-Za-z])(?<![\s.*_\-][A-Za-z] )(?<!^[A-Za-z])(?<!^[A-Za-z] )"
    r"[.!?…]+[\"'\u201d\u2019)\]]*(?:\r?\n|[ \t\f\v])|\r?\n"
)


@dataclass(frozen=True, slots=True)
class Chunk:
    """``text`` starting at absolute char offset ``start`` of the shown reply; ``index`` counts
    from 0. ``boundary`` says why it closed: a ``"cap"`` chunk ends mid-sentence."""

    index: int
    text: str
    start: int
    boundary: Boundary = "sentence"
    # When the chunk closed (time.monotonic()): its moderation delay is measured from here.
    closed_at: float = field(default_factory=time.monotonic, compare=False, repr=False)

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def token_text(item: Any) -> str | None:
    """The shown text of a token-like item, ``""`` for special tokens, ``None`` for non-tokens.

    Tokens are recognised by shape (``text`` and ``special`` attributes, like
    ``chat.llm.Token``) so this module does not depend on the LLM client; a bare ``str`` is a
    token too (handy in tests and benchmarks).
    """
    if isinstance(item, str):
        return item
    text = getattr(item, "text", None)
    if isinstance(text, str) and hasattr(item, "special"):
        return "" if item.special else text
    return None


# What a sentence end's match holds before its whitespace or line break (punctuation, closing
# quotes and brackets, a CR): the only characters a match can span that are not its last.
_END_RUN = frozenset(".!?\u2026\"'\u201d\u2019)]\r")


def split_point(buffer: str, max_chars: int, *, final: bool, searched: int = 0) -> tuple[int, Boundary] | None:
    """Where the first chunk in ``buffer`` ends, or ``None`` if it needs more text.

    The cap cuts at the last whitespace in the second half of the first ``max_chars`` chars
    (keeping words whole, so a word is never judged in two halves) and hard-cuts only a "word"
    longer than half the cap.

    ``searched``: the length of a prefix of ``buffer`` that was the whole buffer when this
    returned ``None`` for it (same ``max_chars``, nothing cut since). No sentence end lies in
    it, so one in the longer buffer ends after it, and starts in the run of ``_END_RUN``
    characters that closes it or later: the search starts there, and a token costs a search of
    its own text, not of the whole sentence so far. The result is the same as with 0.
    """
    start = min(searched, len(buffer))
    while start and buffer[start - 1] in _END_RUN:
        start -= 1
    match = _BOUNDARY.search(buffer, start, max_chars + 1)
    if match and match.end() <= max_chars:
        return match.end(), "newline" if match.group().endswith("\n") else "sentence"
    if len(buffer) > max_chars:
        window = buffer[:max_chars]
        space = max(window.rfind(" "), window.rfind("\t"))
        if space >= max_chars // 2:
            return space + 1, "cap"
        return max_chars, "cap"
    if final and buffer:
        return len(buffer), "end"
    return None


def word_cut(buffer: str) -> int:
    """The end of the longest prefix of ``buffer`` that ends in whitespace and holds a
    non-space character (so a cut there splits no word), or 0 if there is none."""
    for end in range(len(buffer), 0, -1):
        if buffer[end - 1].isspace():
            return end if buffer[:end].strip() else 0
    return 0


def sentences(
    max_chars: int,
    *,
    max_ms: float = 0.0,
    first_ms: float = 0.0,
    first_chars: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[AsyncIterator[Any]], AsyncIterator[Any]]:
    """Stage: token-like items in, :class:`Chunk` out; other items pass through in order.

    Before passing a non-token item (e.g. ``chat.llm.Finish``) the pending text is flushed as a
    chunk, and at the end of the stream too. Special tokens contribute no text.

    Time cuts (0 turns each off): when a token arrives and the pending text's oldest part
    arrived ``first_ms`` (first chunk) or ``max_ms`` (later chunks) ago or more, or the first
    chunk's pending text reaches ``first_chars``, the pending text up to its last whitespace
    (:func:`word_cut`) closes as a ``"time"`` chunk. ``clock`` returns seconds (tests pass a
    fake one).
    """
    if max_chars < 2:
        raise ValueError("max_chars must be at least 2")
    timed = max_ms > 0 or first_ms > 0 or first_chars > 0

    async def stage(items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        buffer = ""
        start = 0
        index = 0
        since = 0.0  # when the oldest pending text arrived

        searched = 0  # how much of the buffer holds no sentence end (split_point's ``searched``)

        def cut(final: bool) -> list[Chunk]:
            nonlocal buffer, start, index, since, searched
            out = []
            while (point := split_point(buffer, max_chars, final=final, searched=searched)) is not None:
                end, boundary = point
                out.append(Chunk(index=index, text=buffer[:end], start=start, boundary=boundary))
                index += 1
                start += end
                buffer = buffer[end:]
                searched = 0
            searched = len(buffer)  # split_point found no end in it
            if timed and buffer and not final:
                now = clock()
                if out:  # what is left arrived with the newest token
                    since = now
                if index == 0:
                    due = (first_ms > 0 and now - since >= first_ms / 1000) or 0 < first_chars <= len(buffer)
                else:
                    due = max_ms > 0 and now - since >= max_ms / 1000
                end = word_cut(buffer) if due else 0
                if end:
                    out.append(Chunk(index=index, text=buffer[:end], start=start, boundary="time"))
                    index += 1
                    start += end
                    buffer = buffer[end:]
                    searched = 0  # its start moved: the look-behinds see other characters
                    since = now  # the rest is a word still being written: it waits from now
            return out

        async for item in items:
            text = token_text(item)
            if text is None:
                for chunk in cut(final=True):
                    yield chunk
                yield item
                continue
            if text:
                if not buffer and timed:
                    since = clock()
                buffer += text
                for chunk in cut(final=False):
                    yield chunk
        for chunk in cut(final=True):
            yield chunk

    return stage
