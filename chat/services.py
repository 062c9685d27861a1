"""Writes for the chat app. Every function is keyword-only, typed and atomic."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat import access, events, protocol, rows, selectors, signals
from chat.errors import Busy, Invalid, NotFound
from chat.models import ApiKey, Conversation, Message, Rating
from chat.protocol import EventFrame, ReviewResolvedFrame, TurnStartedFrame
from chat.segments import Segments
from guardrails import pii
from guardrails.checks import Verdict
from observability import metrics

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "gsc_"


# --- API keys ---------------------------------------------------------------------------


def _hash_key(raw: str) -> str:
    # Keys are 256-bit random secrets: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, user: User, name: str = "") -> tuple[ApiKey, str]:
    """Make a key; return it with the raw secret, which is shown once and never stored."""
    prefix = secrets.token_hex(4)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(user=user, name=name, prefix=prefix, key_hash=_hash_key(raw))
    return key, raw


def api_key_authenticate(*, raw: str) -> User | None:
    """The active user owning this key, or None for an unknown, revoked or malformed key."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    key = ApiKey.objects.select_related("user").filter(key_hash=_hash_key(raw), revoked_at__isnull=True).first()
    if key is None or not key.user.is_active:
        return None
    rows.update(ApiKey, key.pk, {"last_used_at": timezone.now()})
    return key.user


@transaction.atomic
def api_key_revoke(*, prefix: str) -> int:
    """Revoke a key; the sockets opened with it close within seconds (``chat.access``)."""
    keys = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True)
    owners = set(keys.values_list("user_id", flat=True))
    revoked = keys.update(revoked_at=timezone.now())
    for user_id in owners:
        access.notify_user(user_id)
    return revoked


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
    started_frame: TurnStartedFrame
    # Set when the same client_msg_id was seen before: nothing new was started.
    duplicate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # The conversation's placeholder -> value mapping, to restore the model's echoes (never log it).
    pii_mapping: dict[str, str] = field(default_factory=dict, repr=False)
    # A failing "budget" verdict when the user's daily tokens are spent: the turn is refused
    # before the LLM is asked (read here, in the same trip to the database as the start).
    budget_refusal: list[Verdict] = field(default_factory=list)


@transaction.atomic
def turn_start(
    *,
    user: User,
    text: str,
    conversation_id: int | None,
    client_msg_id: str | None,
    continue_of: int | None = None,
    regenerate_of: int | None = None,
    edit_of: int | None = None,
) -> TurnStart:
    """Store the user's message and an empty reply, and the ``turn_started`` event.

    Raises :class:`NotFound` (missing or another user's conversation) or :class:`Busy` (a
    reply is still being generated there). A resent ``client_msg_id`` returns the original
    turn with ``duplicate=True``. ``continue_of`` / ``regenerate_of`` / ``edit_of`` (protocol
    v1 ``user_message``) must name the conversation's cut-off reply, last reply, or last user
    message (else :class:`NotFound` or :class:`Invalid`); regenerate and edit supersede the
    earlier exchange (listed in the event's ``supersedes``), and a regenerated question is the
    stored one, whatever ``text`` says.
    """
    if client_msg_id is not None:
        original = selectors.turn_started_for_client_msg_id(user=user, client_msg_id=client_msg_id)
        if original is not None:
            return TurnStart(
                conversation_id=original["conversation_id"],
                owner_id=user.pk,
                user_message_id=original["user_message_id"],
                message_id=original["message_id"],
                user_text=original["user_text"],
                history=[],
                started_frame=original,
                duplicate=True,
            )

    conversation: Conversation | None
    if conversation_id is None:
        # Its first event is this turn's turn_started (seq 1): the row is complete as created.
        conversation = rows.insert(Conversation, owner=user, title=_title_from(text), last_seq=1)
    else:
        # The row lock serialises turn starts and seq allocation across processes.
        conversation = (
            selectors.conversations_for_user(user=user).select_for_update().filter(pk=conversation_id).first()
        )
        if conversation is None:
            raise NotFound("No such conversation.")
        events.fail_stale_turns(conversation)
        running = conversation.messages.filter(status=Message.Status.STREAMING).first()
        if running is not None:
            raise Busy(
                "A reply is still being generated in this conversation; wait for it or stop it.",
                message_id=running.pk,
            )
    supersedes: list[int] = []
    if continue_of is not None or regenerate_of is not None or edit_of is not None:
        text, supersedes = _turn_replaces(
            conversation, text=text, continue_of=continue_of, regenerate_of=regenerate_of, edit_of=edit_of
        )

    # A conversation created just now has no history: spare the query (a third of a new turn's start).
    earlier = selectors.history_for_llm(conversation=conversation) if conversation_id is not None else []
    history = [*earlier, {"role": "user", "content": text}]
    if settings.GUARDRAILS_PII == "mask":  # the user's text and the history alike, every turn
        history, conversation.pii_mapping = pii.mask_messages(history, conversation.pii_mapping)
    user_message = rows.insert(
        Message, conversation=conversation, role=Message.Role.USER, text=text, client_msg_id=client_msg_id
    )
    reply = rows.insert(
        Message,
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        reply_to=user_message,
        lease_until=events.lease_until(),
    )
    started = protocol.turn_started(
        conversation.pk,
        1 if conversation_id is None else 0,  # a new conversation's first event; else numbered by append
        user_message_id=user_message.pk,
        message_id=reply.pk,
        user_text=user_message.text,
        supersedes=supersedes,
    )
    if conversation_id is None:
        frame: EventFrame = started
        events.store(conversation_id=conversation.pk, frames=[frame])
        if conversation.pii_mapping:  # the user's first message held personal data
            conversation.save(update_fields=["pii_mapping", "updated_at"])
    else:
        (frame,) = events.append(conversation, [started])
        changed = {"last_seq": conversation.last_seq, "pii_mapping": conversation.pii_mapping}
        rows.update(Conversation, conversation.pk, {**changed, "updated_at": timezone.now()})
    return TurnStart(
        conversation_id=conversation.pk,
        owner_id=user.pk,
        user_message_id=user_message.pk,
        message_id=reply.pk,
        user_text=text,
        history=history,
        started_frame=cast(TurnStartedFrame, frame),
        pii_mapping=conversation.pii_mapping,
        budget_refusal=selectors.budget_refusal(owner_id=user.pk),
    )


def _turn_replaces(
    conversation: Conversation,
    *,
    text: str,
    continue_of: int | None,
    regenerate_of: int | None,
    edit_of: int | None,
) -> tuple[str, list[int]]:
    """Check what a continue / regenerate / edit turn refers to; supersede what it replaces.

    Returns the text of the new user message and the ids of the superseded messages.
    """
    current = conversation.messages.filter(superseded=False)
    last = current.order_by("-id").first()
    if continue_of is not None:
        cut = current.filter(pk=continue_of, role=Message.Role.ASSISTANT).first()
        if cut is None:
            raise NotFound("No such reply.", message_id=continue_of)
        if cut.finish_reason != "length":
            raise Invalid("Only a reply that was cut off at the length limit can be continued.", message_id=cut.pk)
        return text, []
    if regenerate_of is not None:
        if last is None or last.pk != regenerate_of or last.role != Message.Role.ASSISTANT:
            raise Invalid("Only the last reply can be regenerated.", message_id=regenerate_of)
        question = last.reply_to
        if question is None:
            raise Invalid("That reply answers no message.", message_id=regenerate_of)
        replaced = [question.pk, last.pk]
        text = question.text
    else:
        question = current.filter(role=Message.Role.USER).order_by("-id").first()
        if question is None or question.pk != edit_of:
            raise Invalid("Only your last message can be edited.", message_id=edit_of)
        replaced = [question.pk, *current.filter(reply_to=question).values_list("pk", flat=True)]
    Message.objects.filter(pk__in=replaced).update(superseded=True, updated_at=timezone.now())
    return text, sorted(replaced)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59] + "…"


@transaction.atomic
def reply_save(
    *,
    conversation_id: int,
    message_id: int,
    frames: list[EventFrame],
    fields: dict[str, Any],
    final: bool = False,
    needs_review: bool = False,
) -> list[EventFrame]:
    """Store a batch of a running turn's events and the reply's state so far.

    The final batch also stores the events parked while the turn ran, numbered after the
    turn's own, and returns them for the turn to publish; for a held or flagged reply it
    sends ``reply_needs_review`` (receivers queue work with ``transaction.on_commit``).

    A reply that another process already declared dead (its lease ran out, e.g. during a long
    database outage) stays failed: nothing is stored and nothing is returned.
    """
    if not final:
        # Only the final save ends the reply: a periodic flush that runs after the turn chose
        # its status (between its last item and its done) must not look like a reply ended
        # elsewhere, or the final batch (and the review request) would be dropped.
        fields = {**fields, "status": Message.Status.STREAMING}
    lease = None if final else events.lease_until()
    # Updating only a still-streaming row both checks that the reply is alive and locks it
    # (the dead-turn sweep updates the same row), in one statement.
    alive = rows.update(
        Message,
        message_id,
        {**fields, "lease_until": lease, "updated_at": timezone.now()},
        where={"status": Message.Status.STREAMING},
    )
    if not alive:
        logger.warning("reply %s was ended by another process (lease expired); dropping its late events", message_id)
        return []
    events.store(conversation_id=conversation_id, frames=frames)
    if final and needs_review:
        for receiver, error in signals.reply_needs_review.send_robust(sender=Message, message_id=message_id):
            if error is not None:  # the escalation sweep queues any held reply left without review
                logger.error("reply_needs_review receiver %r failed for reply %s: %r", receiver, message_id, error)
    return events.advance(conversation_id=conversation_id, frames=frames, final=final)


@transaction.atomic
def replies_save(batches: list[events.Batch]) -> set[int]:
    """A process's periodic flush: every running turn's new events and its reply's state so far,
    in one transaction (see ``events.Flusher``). Returns the replies another process already
    ended (their lease ran out): their events are dropped, as :func:`reply_save` does.

    The conversations' ``last_seq`` is left to each turn's final save: while a turn runs, no
    one numbers events there but the turn, and a process that dies mid-turn leaves its events
    stored, from which ``events.fail_stale_turns`` catches ``last_seq`` up.
    """
    ids = sorted(b.message_id for b in batches)
    streaming = Message.objects.select_for_update().filter(pk__in=ids, status=Message.Status.STREAMING)
    alive = set(streaming.order_by("pk").values_list("pk", flat=True))
    kept = [b for b in batches if b.message_id in alive]
    events.store_many((b.conversation_id, b.frames) for b in kept)
    now, lease = timezone.now(), events.lease_until()
    # Only the final save ends a reply.
    running = {"status": Message.Status.STREAMING, "lease_until": lease, "updated_at": now}
    rows.update_many(Message, [(b.message_id, {**b.fields, **running}) for b in kept])
    return {b.message_id for b in batches} - alive


def turn_leases_renew(*, message_ids: list[int]) -> list[int]:
    """Extend the leases of replies this process is running; return those no longer streaming
    (ended elsewhere as dead: the caller stops them)."""
    if not message_ids:
        return []
    renewed = Message.objects.filter(pk__in=message_ids, status=Message.Status.STREAMING)
    renewed.update(lease_until=events.lease_until())
    alive = set(renewed.values_list("pk", flat=True))
    return [pk for pk in message_ids if pk not in alive]


@transaction.atomic
def conversation_dead_turns_fail(*, conversation_id: int) -> None:
    """End the conversation's replies whose lease ran out (their process died): failed,
    with ``error`` and ``done`` events, so the user can go on."""
    if not events.dead_replies().filter(conversation_id=conversation_id).exists():
        return  # the usual case: no lock taken
    conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    if conversation is not None:
        events.fail_stale_turns(conversation)


def dead_turns_fail() -> int:
    """End every reply whose lease ran out, in any conversation; return how many conversations."""
    conversation_ids = set(events.dead_replies().values_list("conversation_id", flat=True))
    for conversation_id in conversation_ids:
        conversation_dead_turns_fail(conversation_id=conversation_id)
    return len(conversation_ids)


# --- Ratings ----------------------------------------------------------------------------


@transaction.atomic
def rating_set(
    *, user: User, message_id: int, value: int, comment: str = "", reason: str = "", report: bool = False
) -> Rating:
    """Set the user's rating of a reply. ``report`` (a thumbs down only) sends the reply to
    the review queue as a user report: ``reply_reported`` is sent inside this transaction, and
    its receivers (the review app) make one review item per reply however often it is sent."""
    message = selectors.message_for_user(user=user, message_id=message_id)
    if message is None or message.role != Message.Role.ASSISTANT:
        raise NotFound("No such reply.")
    rating, _ = Rating.objects.update_or_create(
        message=message, user=user, defaults={"value": value, "comment": comment, "reason": reason}
    )
    metrics.RATINGS.labels(value="up" if value > 0 else "down", reason=reason or "none").inc()
    if report and value < 0:
        results = signals.reply_reported.send_robust(
            sender=Message, message_id=message.pk, reason=reason or Rating.Reason.OTHER, comment=comment
        )
        for receiver, error in results:
            if error is not None:
                logger.error("reply_reported receiver %r failed for reply %s: %r", receiver, message.pk, error)
    return rating


# --- Conversations --------------------------------------------------------------------

CONVERSATION_TITLE_MAX = 200


def _owned(user: User, conversation_id: int) -> Conversation:
    conversation = selectors.conversations_for_user(user=user).select_for_update().filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


@transaction.atomic
def conversation_rename(*, user: User, conversation_id: int, title: str) -> Conversation:
    """Give the user's conversation a new title (one line; raises Invalid when empty or too long)."""
    title = " ".join(title.split())
    if not title or len(title) > CONVERSATION_TITLE_MAX:
        raise Invalid(f"A title is 1 to {CONVERSATION_TITLE_MAX} characters.")
    conversation = _owned(user, conversation_id)
    conversation.title = title
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


@transaction.atomic
def conversation_delete(*, user: User, conversation_id: int) -> None:
    """Hide the conversation from its owner for good. Nothing is erased: held replies in it
    stay in the review queue and the audit trail. A reply still being written carries on."""
    conversation = _owned(user, conversation_id)
    conversation.deleted_at = timezone.now()
    conversation.save(update_fields=["deleted_at"])


@transaction.atomic
def conversation_mark_seen(*, user: User, conversation_id: int) -> None:
    """The owner has seen the conversation's review decisions (clears the list's badge)."""
    selectors.conversations_for_user(user=user).filter(pk=conversation_id).update(decision_unseen_at=None)


# --- Review outcomes ------------------------------------------------------------------------


@transaction.atomic
def reply_resolve(*, message_id: int, decision: str, text: str) -> ReviewResolvedFrame | None:
    """Apply a reviewer's decision to a reply and add the ``review_resolved`` event.

    ``decision`` is ``approved`` (the held text is shown as generated), ``rejected`` or
    ``edited`` (``text`` is shown in place of the held part). A reply with no held part
    (flagged: shown, then reviewed) is replaced whole unless approved. The event is published
    after commit; returns it as stored, or None while a turn runs in the conversation (the
    turn publishes it right after its ``done``; see ``events.append_or_park``).
    """
    message = Message.objects.select_for_update().get(pk=message_id, role=Message.Role.ASSISTANT)
    segments = Segments.from_json(message.segments)
    # Held text is stored as the model wrote it: an approved part shows the user's own values.
    mapping = Conversation.objects.values_list("pii_mapping", flat=True).get(pk=message.conversation_id)
    shown, replaces = segments.resolve(decision, text, as_shown=lambda held: pii.restore(held, mapping))
    message.segments = segments.to_json()
    message.save(update_fields=["segments", "updated_at"])
    Conversation.objects.filter(pk=message.conversation_id).update(decision_unseen_at=timezone.now())
    frame = protocol.review_resolved(
        message.conversation_id, 0, message_id=message.pk, decision=decision, text=shown, replaces=replaces,
        segments=segments.resolved_texts() if replaces == "held" else None,
    )  # fmt: skip
    return cast(ReviewResolvedFrame | None, events.append_or_park(conversation_id=message.conversation_id, frame=frame))
