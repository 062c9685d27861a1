"""Writes for the chat app. Every function is keyword-only, typed and atomic."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from chat import selectors
from chat.models import ApiKey, Conversation, Event, Message, Rating
from chat.protocol import ErrorCode, ProtocolError
from guardrails import pii

API_KEY_PREFIX = "gsc_"


# --- API keys ---------------------------------------------------------------------------


def _hash_key(raw: str) -> str:
    # Keys are 256-bit random secrets: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiKey, str]:
    """Make a key; return it with the raw secret, which is shown once and never stored."""
    prefix = secrets.token_hex(4)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(user=user, name=name, prefix=prefix, key_hash=_hash_key(raw))
    return key, raw


def api_key_authenticate(*, raw: str) -> AbstractBaseUser | None:
    """The active user owning this key, or None for an unknown, revoked or malformed key."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    key = ApiKey.objects.select_related("user").filter(key_hash=_hash_key(raw), revoked_at__isnull=True).first()
    if key is None or not key.user.is_active:
        return None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key.user


@transaction.atomic
def api_key_revoke(*, prefix: str) -> int:
    return ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).update(revoked_at=timezone.now())


# --- Turns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnStart:
    """Everything a running turn needs, taken from the database once at its start."""

    conversation_id: int
    owner_id: int
    user_message_id: int
    message_id: int
    user_text: str
    # What the LLM is sent: with GUARDRAILS_PII=mask, personal data replaced by placeholders.
    history: list[dict[str, str]]
    started_frame: dict[str, Any]
    # Set when the same client_msg_id was seen before: nothing new was started.
    duplicate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # The conversation's placeholder -> value mapping, to restore the model's echoes (never log it).
    pii_mapping: dict[str, str] = field(default_factory=dict, repr=False)


def _started_frame(conversation: Conversation, seq: int, user_message: Message, reply: Message) -> dict[str, Any]:
    return {
        "type": "turn_started",
        "conversation_id": conversation.pk,
        "seq": seq,
        "user_message_id": user_message.pk,
        "message_id": reply.pk,
        # Not in DESIGN §4's table: lets the owner's other sockets show the question too.
        "user_text": user_message.text,
    }


@transaction.atomic
def turn_start(
    *, user: AbstractBaseUser, text: str, conversation_id: int | None, client_msg_id: str | None
) -> TurnStart:
    """Store the user's message and an empty reply, and the ``turn_started`` event.

    Raises ProtocolError ``not_found`` (missing or another user's conversation) or
    ``busy`` (a reply is still being generated there). A resent ``client_msg_id``
    returns the original turn with ``duplicate=True``.
    """
    if client_msg_id is not None:
        original = selectors.turn_for_client_msg_id(user=user, client_msg_id=client_msg_id)
        if original is not None:
            return original

    if conversation_id is None:
        conversation = Conversation.objects.create(owner=user, title=_title_from(text))
    else:
        # The row lock serialises turn starts and seq allocation across processes.
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id, owner=user).first()
        if conversation is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "No such conversation.")
        _fail_stale_turns(conversation)
        running = conversation.messages.filter(status=Message.Status.STREAMING).first()
        if running is not None:
            raise ProtocolError(
                ErrorCode.BUSY,
                "A reply is still being generated in this conversation; wait for it or stop it.",
                message_id=running.pk,
            )

    history = [*selectors.history_for_llm(conversation=conversation), {"role": "user", "content": text}]
    if settings.GUARDRAILS_PII == "mask":  # the user's text and the history alike, every turn
        history, conversation.pii_mapping = pii.mask_messages(history, conversation.pii_mapping)
    user_message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, text=text, client_msg_id=client_msg_id
    )
    reply = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        reply_to=user_message,
    )
    seq = conversation.last_seq + 1
    frame = _started_frame(conversation, seq, user_message, reply)
    Event.objects.create(conversation=conversation, seq=seq, type=frame["type"], payload=frame)
    conversation.last_seq = seq
    conversation.save(update_fields=["last_seq", "pii_mapping", "updated_at"])
    return TurnStart(
        conversation_id=conversation.pk,
        owner_id=user.pk,
        user_message_id=user_message.pk,
        message_id=reply.pk,
        user_text=text,
        history=history,
        started_frame=frame,
        pii_mapping=conversation.pii_mapping,
    )


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59] + "…"


def _fail_stale_turns(conversation: Conversation) -> None:
    """A turn whose process died never finishes; past the reply cap it is marked failed."""
    cutoff = timezone.now() - timedelta(seconds=settings.LLM_TOTAL_TIMEOUT + 60)
    conversation.messages.filter(status=Message.Status.STREAMING, created_at__lt=cutoff).update(
        status=Message.Status.FAILED, error_code=ErrorCode.INTERNAL, error_detail="The server stopped mid-reply."
    )
    stored = conversation.events.order_by("-seq").values_list("seq", flat=True).first() or 0
    conversation.last_seq = max(conversation.last_seq, stored)
    if conversation.parked_events and not conversation.messages.filter(status=Message.Status.STREAMING).exists():
        _append_events(conversation, conversation.parked_events)
        conversation.parked_events = []
        conversation.save(update_fields=["last_seq", "parked_events"])


@transaction.atomic
def turn_record(
    *,
    conversation_id: int,
    message_id: int,
    events: list[dict[str, Any]],
    message_fields: dict[str, Any],
    final: bool = False,
    needs_review: bool = False,
) -> list[dict[str, Any]]:
    """Store a batch of a running turn's events and the reply's state so far.

    The final batch also stores the events parked while the turn ran, numbered after the
    turn's own, and returns them for the turn to publish.
    """
    Event.objects.bulk_create(
        [Event(conversation_id=conversation_id, seq=e["seq"], type=e["type"], payload=e) for e in events]
    )
    Message.objects.filter(pk=message_id).update(**message_fields, updated_at=timezone.now())
    if not final:
        if events:
            Conversation.objects.filter(pk=conversation_id).update(last_seq=events[-1]["seq"])
        return []
    if needs_review:
        from review import tasks  # the review loop sits on top of chat

        # robust: a broker outage must not break the turn's end; the escalation task's recovery
        # sweep queues any held reply that has no review item.
        transaction.on_commit(lambda: tasks.queue_review.delay(message_id), robust=True)
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    if events:
        conversation.last_seq = events[-1]["seq"]
    released = _append_events(conversation, conversation.parked_events)
    conversation.parked_events = []
    conversation.save(update_fields=["last_seq", "parked_events", "updated_at"])
    return released


def _append_events(conversation: Conversation, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Number and store events after the conversation's last seq (caller holds the row lock)."""
    frames = []
    for item in fields:
        conversation.last_seq += 1
        frames.append({**item, "conversation_id": conversation.pk, "seq": conversation.last_seq})
    Event.objects.bulk_create(
        [Event(conversation=conversation, seq=f["seq"], type=f["type"], payload=f) for f in frames]
    )
    return frames


@transaction.atomic
def conversation_event_add(*, conversation_id: int, frame: dict[str, Any]) -> dict[str, Any] | None:
    """Add an event raised outside a turn (e.g. ``review_resolved``) to the conversation.

    Returns the numbered, stored frame for the caller to publish after commit — or None
    while a turn runs there: the turn owns the seq counter, so the event is parked and
    the turn stores and publishes it when it ends. Either way it is delivered once, in order.
    """
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    _fail_stale_turns(conversation)
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        conversation.parked_events = [*conversation.parked_events, frame]
        conversation.save(update_fields=["parked_events"])
        return None
    (stored,) = _append_events(conversation, [frame])
    conversation.save(update_fields=["last_seq", "updated_at"])
    return stored


# --- Ratings ----------------------------------------------------------------------------


@transaction.atomic
def rating_set(*, user: AbstractBaseUser, message_id: int, value: int, comment: str = "") -> Rating:
    message = selectors.message_for_user(user=user, message_id=message_id)
    if message is None or message.role != Message.Role.ASSISTANT:
        raise ProtocolError(ErrorCode.NOT_FOUND, "No such reply.")
    rating, _ = Rating.objects.update_or_create(
        message=message, user=user, defaults={"value": value, "comment": comment}
    )
    return rating


# --- Review outcomes ------------------------------------------------------------------------


@transaction.atomic
def reply_resolve(*, message_id: int, decision: str, text: str) -> dict[str, Any] | None:
    """Apply a reviewer's decision to a reply and add the ``review_resolved`` event.

    ``decision`` is ``approved`` (the held text is shown as generated), ``rejected`` or
    ``edited`` (``text`` is shown in place of the held part). A reply with no held part
    (flagged: shown, then reviewed) is replaced whole unless approved. Returns the stored
    frame to publish after commit, or None while a turn runs in the conversation (the
    turn publishes it when it ends; see ``conversation_event_add``).
    """
    message = Message.objects.select_for_update().get(pk=message_id, role=Message.Role.ASSISTANT)
    held = [s for s in message.segments if s["kind"] == "held"]
    if decision == "approved":
        # Held text is stored as the model wrote it: placeholders become the user's values here.
        mapping = Conversation.objects.values_list("pii_mapping", flat=True).get(pk=message.conversation_id)
        shown = pii.restore("".join(s["text"] for s in held), mapping)
        for segment in held:
            segment["resolution"] = {"decision": decision, "text": pii.restore(segment["text"], mapping)}
    elif held:
        shown = text
        for index, segment in enumerate(held):
            segment["resolution"] = {"decision": decision, "text": text if index == 0 else ""}
    else:
        shown = text
        original = "".join(s["text"] for s in message.segments)
        message.segments = [
            {"kind": "held", "text": original, "start": 0, "resolution": {"decision": decision, "text": text}}
        ]
    message.save(update_fields=["segments", "updated_at"])
    frame = {
        "type": "review_resolved",
        "message_id": message.pk,
        "decision": decision,
        "text": shown,
        # "held": the text replaces the reply's placeholder(s); "reply": it replaces the whole
        # reply (a flagged reply was shown before review). Not in DESIGN §4's table.
        "replaces": "held" if held or decision == "approved" else "reply",
    }
    return conversation_event_add(conversation_id=message.conversation_id, frame=frame)
