"""Reads for the chat app. Ownership is part of every lookup: another user's rows do not exist."""

from __future__ import annotations

import functools
from datetime import UTC
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections, router
from django.db.models import Field, Model, Q, QuerySet, Sum
from django.utils import timezone

from chat.models import Conversation, Event, Message, Rating
from chat.protocol import TurnStartedFrame
from chat.segments import Segments, ShownSegment
from guardrails.checks import Verdict


def conversations_for_user(*, user: User) -> QuerySet[Conversation]:
    """The user's conversations, newest first; deleted ones do not exist for their owner."""
    return Conversation.objects.filter(owner=user, deleted_at__isnull=True).order_by("-updated_at", "-id")


def conversation_for_user(*, user: User, conversation_id: int) -> Conversation | None:
    return conversations_for_user(user=user).filter(pk=conversation_id).first()


def message_for_user(*, user: User, message_id: int) -> Message | None:
    return (
        Message.objects.select_related("conversation")
        .filter(pk=message_id, conversation__owner=user, conversation__deleted_at__isnull=True)
        .first()
    )


def history_for_llm(*, conversation: Conversation) -> list[dict[str, str]]:
    """The recent exchange as the model should see it: accepted user messages and what the
    user was shown of the replies (released text, and what a reviewer released).

    A user message whose reply was refused by the input check never reaches the model, on
    this turn or any later one (otherwise sending it twice would bypass the check); nor does
    one whose reply has not started its checks yet (still streaming: the running turn's own).
    """
    recent = list(
        conversation.messages.filter(superseded=False)
        .exclude(status__in=[Message.Status.STREAMING, Message.Status.REFUSED])
        .exclude(role=Message.Role.ASSISTANT, status=Message.Status.FAILED)
        .exclude(role=Message.Role.USER, replies__status__in=[Message.Status.REFUSED, Message.Status.STREAMING])
        .exclude(role=Message.Role.USER, replies__isnull=True)
        .order_by("-id")[: settings.LLM_HISTORY_MESSAGES]
    )
    history = []
    for message in reversed(recent):
        content = message.text if message.role == Message.Role.USER else message.shown_text
        if content.strip():
            history.append({"role": message.role, "content": content})
    return history


def turn_started_for_client_msg_id(*, user: User, client_msg_id: str) -> TurnStartedFrame | None:
    """The ``turn_started`` event of the turn a resent message already started, if any."""
    # Usually there is none (a message sent once): two columns are the cheapest answer.
    found = _user_message_with_client_msg_id(owner_id=user.pk, client_msg_id=client_msg_id)
    if found is None:
        return None
    user_message_id, conversation_id = found
    if not Message.objects.filter(reply_to_id=user_message_id).exists():
        return None
    started = (
        Event.objects.filter(conversation_id=conversation_id, type="turn_started")
        .filter(payload__user_message_id=user_message_id)
        .first()
    )
    return None if started is None else cast(TurnStartedFrame, started.payload)


def _user_message_with_client_msg_id(*, owner_id: int, client_msg_id: str) -> tuple[int, int] | None:
    """``(id, conversation id)`` of the owner's first user message with ``client_msg_id``, as
    ``Message.objects.filter(conversation__owner_id=owner_id, client_msg_id=client_msg_id,
    role="user").values_list("pk", "conversation_id").first()`` answers it.

    Every message of the web UI carries a ``client_msg_id``, so every turn start asks this, on
    the one database thread every other turn start waits for. The ORM compiled the query anew
    each time (about as much CPU as the rest of a new conversation's turn start); its SQL is
    built once instead (tests/chat/test_selectors.py compares both answers)."""
    connection = connections[router.db_for_read(Message)]
    with connection.cursor() as cursor:
        cursor.execute(_client_msg_id_sql(connection.alias), [client_msg_id, Message.Role.USER.value, owner_id])
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


@functools.cache
def _client_msg_id_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name

    def column(model: type[Model], name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)  # a concrete column, not a relation's reverse side
        return q(field.column)

    m_id, m_conversation, m_client_msg_id, m_role = (
        column(Message, name) for name in ("id", "conversation", "client_msg_id", "role")
    )
    c_id, c_owner = (column(Conversation, name) for name in ("id", "owner"))
    return (
        f"SELECT m.{m_id}, m.{m_conversation} FROM {q(Message._meta.db_table)} m"
        f" INNER JOIN {q(Conversation._meta.db_table)} c ON c.{c_id} = m.{m_conversation}"
        f" WHERE m.{m_client_msg_id} = %s AND m.{m_role} = %s AND c.{c_owner} = %s"
        f" ORDER BY m.{m_id} LIMIT 1"
    )


def tokens_used_today(*, owner_id: int) -> int:
    """Tokens (in + out) of the user's replies since midnight UTC: ``CHAT_DAILY_TOKEN_BUDGET``."""
    since = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    totals = Message.objects.filter(
        conversation__owner_id=owner_id, role=Message.Role.ASSISTANT, created_at__gte=since
    ).aggregate(tokens_in=Sum("tokens_in", default=0), tokens_out=Sum("tokens_out", default=0))
    return int(totals["tokens_in"]) + int(totals["tokens_out"])


def budget_refusal(*, owner_id: int) -> list[Verdict]:
    """A failing ``budget`` verdict once the user has spent ``CHAT_DAILY_TOKEN_BUDGET`` (if set)."""
    budget = settings.CHAT_DAILY_TOKEN_BUDGET
    if budget <= 0:
        return []
    used = tokens_used_today(owner_id=owner_id)
    if used < budget:
        return []
    detail = {"used": used, "budget": budget}
    return [Verdict("budget", "daily_tokens", float(used), (0, 0), passed=False, detail=detail)]


# --- Web UI snapshot (appended by the web-UI issue) --------------------------------------


def conversation_list_for_user(*, user: User, query: str = "", limit: int = 200) -> list[dict[str, Any]]:
    """The user's conversations for the sidebar, newest first: ``{id, title, updated_at,
    decision_unseen}``. With ``query``, only those whose title or text contains it (case
    insensitive): the user's messages and the replies as shown. A reply with a held part is
    searched by title only: its stored text holds what the user was never shown."""
    conversations = conversations_for_user(user=user)
    query = query.strip()
    if query:
        shown = [Message.Status.COMPLETE, Message.Status.STOPPED]
        matching = Message.objects.filter(superseded=False, text__icontains=query).filter(
            Q(role=Message.Role.USER) | Q(role=Message.Role.ASSISTANT, status__in=shown)
        )
        conversations = conversations.filter(Q(title__icontains=query) | Q(pk__in=matching.values("conversation_id")))
    rows = conversations.values("id", "title", "updated_at", "decision_unseen_at")[:limit]
    return [
        {
            "id": row["id"],
            "title": row["title"] or f"Conversation {row['id']}",
            "updated_at": row["updated_at"],
            "decision_unseen": row["decision_unseen_at"] is not None,
        }
        for row in rows
    ]


def _shown_segments(message: Message) -> list[ShownSegment]:
    """What the user may see of a message: released text, held parts as placeholder or resolution.

    Never the held text itself. A message stored without segments (the user's own) is its text.
    """
    segments = Segments.from_json(message.segments or [{"kind": "released", "text": message.text}])
    return segments.shown(settings.GUARDRAILS_PLACEHOLDER)


def conversation_snapshot(*, user: User, conversation_id: int) -> dict[str, Any] | None:
    """A conversation as the web UI first shows it, consistent with replay from ``after_seq``.

    ``last_seq`` is read before the messages: anything stored after that read is replayed
    to the client, which ignores events for messages it already holds in a final state.
    A reply still streaming is sent without its text; the client rebuilds it from the
    events after ``after_seq`` (which starts before that reply's ``turn_started``).
    ``resume_after`` is the same cursor under its first name (clients read it).
    """
    conversation = conversation_for_user(user=user, conversation_id=conversation_id)
    if conversation is None:
        return None
    last_seq = conversation.last_seq
    messages = list(conversation.messages.filter(superseded=False).order_by("id"))
    ratings = {
        r.message_id: {"value": r.value, "comment": r.comment}
        for r in Rating.objects.filter(user=user, message__conversation=conversation)
    }
    after_seq = last_seq
    out = []
    for message in messages:
        item: dict[str, Any] = {
            "id": message.pk,
            "role": message.role,
            "status": message.status,
            "reply_to": message.reply_to_id,
            "finish_reason": message.finish_reason,
            "error_code": message.error_code,
            "error_detail": message.error_detail,
            "created_at": message.created_at,
            "rating": ratings.get(message.pk),
        }
        if message.status == Message.Status.STREAMING:
            item["segments"] = []
            started = (
                Event.objects.filter(conversation=conversation, type="turn_started", payload__message_id=message.pk)
                .values_list("seq", flat=True)
                .first()
            )
            if started is not None:
                after_seq = min(after_seq, started - 1)
        else:
            item["segments"] = _shown_segments(message)
        out.append(item)
    return {
        "id": conversation.pk,
        "title": conversation.title or f"Conversation {conversation.pk}",
        "updated_at": conversation.updated_at,
        "after_seq": after_seq,
        "resume_after": after_seq,
        "messages": out,
    }
