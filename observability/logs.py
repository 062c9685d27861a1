"""Structured logs: the ids of what is running, and one JSON object per line (``LOG_FORMAT=json``).

The ids live in contextvars, so every log line written while handling a request, a socket
frame or a turn carries them without being passed around: ``request_id`` (an HTTP request or
one received socket frame), ``conversation_id`` and ``message_id`` (set by the turn; an asyncio
task copies the context it was created in, so a turn started from a socket frame keeps the
frame's request id). :class:`ContextFilter` puts them on every record (``-`` when unset), for
the plain format too; :class:`JsonFormatter` writes them as fields.

A turn's timeline is logged at INFO by ``chat.turns`` as ``turn <event>`` lines with an
``event`` field (``started``, ``first_token``, ``first_shown_text``, ``held``, ``done``):
``grep '"message_id": 42'`` (JSON) or ``grep 'message=42'`` (plain) shows one reply's life.
"""

from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
conversation_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("conversation_id", default=None)
message_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("message_id", default=None)

_IDS: dict[str, contextvars.ContextVar[Any]] = {
    "request_id": request_id,
    "conversation_id": conversation_id,
    "message_id": message_id,
}
# LogRecord's own attributes: everything else on a record came from ``extra=`` and is logged.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", *_IDS}


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Set some of ``request_id``, ``conversation_id``, ``message_id`` for the ``with`` block."""
    tokens = [(_IDS[name], _IDS[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**ids: Any) -> None:
    """Set ids for the rest of the current context (an asyncio task's own copy, a request)."""
    for name, value in ids.items():
        _IDS[name].set(value)


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``conversation_id`` and ``message_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _IDS.items():
            if getattr(record, name, None) is None:
                value = var.get()
                setattr(record, name, "-" if value is None else value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids, ``extra=`` fields, and
    the traceback as ``exc_info`` text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in _IDS.items():
            value = getattr(record, name, None)
            if value in (None, "-"):
                value = var.get()
            if value is not None:
                entry[name] = value
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
