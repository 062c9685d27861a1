"""Reads for the chat app. Ownership is part of every lookup: another user's rows do not exist."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from chat.models import Conversation, Event, Message

if TYPE_CHECKING:
    from chat.services import TurnStart


def conversations_for_user(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).order_by("-updated_at", "-id")


def conversation_for_user(*, user: AbstractBaseUser, conversation_id: int) -> Conversation | None:
    return Conversation.objects.filter(pk=conversation_id, owner=user).first()


def message_for_user(*, user: AbstractBaseUser, message_id: int) -> Message | None:
    return Message.objects.select_related("conversation").filter(pk=message_id, conversation__owner=user).first()


def events_after(*, conversation_id: int, after_seq: int, limit: int = 5000) -> list[dict[str, Any]]:
    """Stored frames with ``seq > after_seq``, in order."""
    rows = Event.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).order_by("seq")[:limit]
    return [row.payload for row in rows]


def history_for_llm(*, conversation: Conversation) -> list[dict[str, str]]:
    """The recent exchange as the model should see it: only what the user was shown."""
    recent = list(
        conversation.messages.exclude(status__in=[Message.Status.STREAMING, Message.Status.REFUSED])
        .exclude(role=Message.Role.ASSISTANT, status=Message.Status.FAILED)
        .order_by("-id")[: settings.LLM_HISTORY_MESSAGES]
    )
    history = []
    for message in reversed(recent):
        content = message.text if message.role == Message.Role.USER else message.shown_text
        if content.strip():
            history.append({"role": message.role, "content": content})
    return history


def turn_for_client_msg_id(*, user: AbstractBaseUser, client_msg_id: str) -> TurnStart | None:
    """The turn a resent message already started, so the resend changes nothing."""
    from chat.services import TurnStart

    user_message = (
        Message.objects.select_related("conversation")
        .filter(conversation__owner=user, client_msg_id=client_msg_id, role=Message.Role.USER)
        .first()
    )
    if user_message is None:
        return None
    reply = user_message.replies.order_by("id").first()
    started = Event.objects.filter(conversation=user_message.conversation, type="turn_started").filter(
        payload__user_message_id=user_message.pk
    ).first()
    if reply is None or started is None:
        return None
    return TurnStart(
        conversation_id=user_message.conversation_id,
        owner_id=user.pk,
        user_message_id=user_message.pk,
        message_id=reply.pk,
        user_text=user_message.text,
        history=[],
        started_frame=started.payload,
        duplicate=True,
    )
