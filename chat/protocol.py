"""WebSocket protocol v1: typed client frames, parsing, and server frame builders.

Client frames are parsed strictly: a frame that is not a JSON object with a known
``type`` and correctly typed fields raises :class:`ProtocolError`, which the consumer
turns into an ``error`` frame while keeping the socket open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

VERSION = 1


class ErrorCode:
    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    BUSY = "busy"
    BACKEND_OVERLOADED = "backend_overloaded"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    BACKEND_ERROR = "backend_error"
    INTERNAL = "internal"


class ProtocolError(Exception):
    """A client frame the server refuses; ``code`` is one of :class:`ErrorCode`."""

    def __init__(self, code: str, detail: str, *, message_id: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.message_id = message_id

    def frame(self) -> ErrorFrame:
        return error_frame(self.code, self.detail, message_id=self.message_id)


@dataclass(frozen=True, slots=True)
class UserMessage:
    """``user_message``. At most one of the optional ids says what the new turn does to
    earlier messages (all in ``conversation_id``): ``continue_of`` names a reply cut off at
    the length limit that the model should continue; ``regenerate_of`` names the last reply,
    to be answered again (it and its question are superseded); ``edit_of`` names the last
    user message, replaced by ``text`` (it and its replies are superseded)."""

    text: str
    conversation_id: int | None = None
    client_msg_id: str | None = None
    continue_of: int | None = None
    regenerate_of: int | None = None
    edit_of: int | None = None


@dataclass(frozen=True, slots=True)
class Stop:
    message_id: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    conversation_id: int
    after_seq: int = 0


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientFrame = UserMessage | Stop | Subscribe | Ping

MAX_CLIENT_MSG_ID = 64


def parse(raw: str) -> ClientFrame:
    """Parse one text frame. Raises ProtocolError(bad_request) with a plain reason."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "Frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, 'Frame must be a JSON object with a "type".')
    kind = data.get("type")
    if kind == "user_message":
        text = _field(data, "text", str)
        if not text.strip():
            raise ProtocolError(ErrorCode.BAD_REQUEST, '"text" must not be empty.')
        client_msg_id = _field(data, "client_msg_id", str, optional=True)
        if client_msg_id is not None and not 0 < len(client_msg_id) <= MAX_CLIENT_MSG_ID:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f'"client_msg_id" must be 1 to {MAX_CLIENT_MSG_ID} characters.')
        continue_of = _id(data, "continue_of", optional=True)
        regenerate_of = _id(data, "regenerate_of", optional=True)
        edit_of = _id(data, "edit_of", optional=True)
        if sum(x is not None for x in (continue_of, regenerate_of, edit_of)) > 1:
            raise ProtocolError(ErrorCode.BAD_REQUEST, 'Send at most one of "continue_of", "regenerate_of", "edit_of".')
        conversation_id = _id(data, "conversation_id", optional=True)
        if conversation_id is None and (continue_of or regenerate_of or edit_of):
            raise ProtocolError(ErrorCode.BAD_REQUEST, '"conversation_id" is required with an earlier message\'s id.')
        return UserMessage(
            text=text,
            conversation_id=conversation_id,
            client_msg_id=client_msg_id,
            continue_of=continue_of,
            regenerate_of=regenerate_of,
            edit_of=edit_of,
        )
    if kind == "stop":
        return Stop(message_id=_id(data, "message_id"))
    if kind == "subscribe":
        after_seq = _field(data, "after_seq", int, optional=True)
        if after_seq is not None and after_seq < 0:
            raise ProtocolError(ErrorCode.BAD_REQUEST, '"after_seq" must be 0 or more.')
        return Subscribe(conversation_id=_id(data, "conversation_id"), after_seq=after_seq or 0)
    if kind == "ping":
        return Ping()
    if kind is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, 'Frame has no "type".')
    raise ProtocolError(
        ErrorCode.BAD_REQUEST,
        f"Unknown frame type {str(kind)[:40]!r}; expected user_message, stop, subscribe or ping.",
    )


def _field(data: dict[str, Any], name: str, kind: type, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None:
        if optional:
            return None
        raise ProtocolError(ErrorCode.BAD_REQUEST, f'Missing field "{name}".')
    # bool is an int in Python; a JSON true is never a valid id or seq.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f'Field "{name}" must be {_KIND_NAMES[kind]}.')
    return value


def _id(data: dict[str, Any], name: str, *, optional: bool = False) -> Any:
    value = _field(data, name, int, optional=optional)
    if value is not None and value <= 0:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f'Field "{name}" must be a positive integer.')
    return value


_KIND_NAMES = {str: "a string", int: "an integer"}


# --- Server frames ----------------------------------------------------------------------
# Every server frame is built here. Frames about a conversation carry ``conversation_id`` and
# ``seq``; ``seq`` 0 means "not numbered yet" (``chat.events`` numbers it when it is stored).


class Reason(TypedDict):
    """Why text was held or flagged: ``span`` is [start, end) in the reply's characters."""

    check: str
    label: str
    score: float
    span: list[int]


class TurnStartedFrame(TypedDict):
    type: Literal["turn_started"]
    conversation_id: int
    seq: int
    user_message_id: int
    message_id: int
    user_text: str  # not in DESIGN §4's table: the owner's other sockets show the question too
    supersedes: NotRequired[list[int]]  # regenerate / edit and resend: messages no longer shown


class CheckingFrame(TypedDict):
    """Optional progress before the first released text: ``pending_chars`` characters of the
    reply wait for their checks (never their text). Clients may ignore it."""

    type: Literal["checking"]
    conversation_id: int
    seq: int
    message_id: int
    pending_chars: int


class DeltaFrame(TypedDict):
    type: Literal["delta"]
    conversation_id: int
    seq: int
    message_id: int
    text: str


class HeldFrame(TypedDict):
    type: Literal["held"]
    conversation_id: int
    seq: int
    message_id: int
    segment: int
    reasons: list[Reason]
    placeholder: str


class DoneFrame(TypedDict):
    type: Literal["done"]
    conversation_id: int
    seq: int
    message_id: int
    status: str
    finish_reason: str | None
    usage: dict[str, int] | None
    reason: NotRequired[str]  # refused only; not in DESIGN §4's table


class ReviewResolvedFrame(TypedDict):
    type: Literal["review_resolved"]
    conversation_id: int
    seq: int
    message_id: int
    decision: str
    text: str
    replaces: Literal["held", "reply"]  # not in DESIGN §4's table
    # replaces=held: what each held segment now shows, in the reply's order (``text`` is their
    # concatenation). A client puts each in its own place, as the page snapshot does.
    segments: NotRequired[list[str]]


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: str
    detail: str
    message_id: NotRequired[int]
    conversation_id: NotRequired[int]  # with seq: an error that ended a turn (a stored event)
    seq: NotRequired[int]
    retry_after: NotRequired[int]  # backend_overloaded: seconds to wait before trying again


class PongFrame(TypedDict):
    type: Literal["pong"]


#: A frame about a conversation, numbered by ``seq`` (what is stored and replayed).
EventFrame = TurnStartedFrame | DeltaFrame | HeldFrame | DoneFrame | ReviewResolvedFrame | ErrorFrame | CheckingFrame
ServerFrame = EventFrame | PongFrame


def turn_started(
    conversation_id: int,
    seq: int,
    *,
    user_message_id: int,
    message_id: int,
    user_text: str,
    supersedes: list[int] | None = None,
) -> TurnStartedFrame:
    frame: TurnStartedFrame = {
        "type": "turn_started",
        "conversation_id": conversation_id,
        "seq": seq,
        "user_message_id": user_message_id,
        "message_id": message_id,
        "user_text": user_text,
    }
    if supersedes:
        frame["supersedes"] = supersedes
    return frame


def checking(conversation_id: int, seq: int, *, message_id: int, pending_chars: int) -> CheckingFrame:
    return {
        "type": "checking",
        "conversation_id": conversation_id,
        "seq": seq,
        "message_id": message_id,
        "pending_chars": pending_chars,
    }


def delta(conversation_id: int, seq: int, *, message_id: int, text: str) -> DeltaFrame:
    return {"type": "delta", "conversation_id": conversation_id, "seq": seq, "message_id": message_id, "text": text}


def held(
    conversation_id: int, seq: int, *, message_id: int, segment: int, reasons: list[Reason], placeholder: str
) -> HeldFrame:
    return {
        "type": "held",
        "conversation_id": conversation_id,
        "seq": seq,
        "message_id": message_id,
        "segment": segment,
        "reasons": reasons,
        "placeholder": placeholder,
    }


def done(
    conversation_id: int,
    seq: int,
    *,
    message_id: int,
    status: str,
    finish_reason: str | None,
    usage: dict[str, int] | None,
    reason: str | None = None,
) -> DoneFrame:
    frame: DoneFrame = {
        "type": "done",
        "conversation_id": conversation_id,
        "seq": seq,
        "message_id": message_id,
        "status": status,
        "finish_reason": finish_reason,
        "usage": usage,
    }
    if reason is not None:
        frame["reason"] = reason
    return frame


def review_resolved(
    conversation_id: int,
    seq: int,
    *,
    message_id: int,
    decision: str,
    text: str,
    replaces: Literal["held", "reply"],
    segments: list[str] | None = None,
) -> ReviewResolvedFrame:
    frame: ReviewResolvedFrame = {
        "type": "review_resolved",
        "conversation_id": conversation_id,
        "seq": seq,
        "message_id": message_id,
        "decision": decision,
        "text": text,
        "replaces": replaces,
    }
    if segments is not None:
        frame["segments"] = segments
    return frame


def error_frame(code: str, detail: str, *, message_id: int | None = None, retry_after: int | None = None) -> ErrorFrame:
    frame: ErrorFrame = {"type": "error", "code": code, "detail": detail}
    if message_id is not None:
        frame["message_id"] = message_id
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return frame


def turn_error(conversation_id: int, seq: int, *, code: str, detail: str, message_id: int) -> ErrorFrame:
    """The ``error`` a failing turn sends before its ``done``: an event of the conversation."""
    return {
        "type": "error",
        "conversation_id": conversation_id,
        "seq": seq,
        "code": code,
        "detail": detail,
        "message_id": message_id,
    }


def pong() -> PongFrame:
    return {"type": "pong"}


def dumps(frame: ServerFrame) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
