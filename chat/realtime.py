"""Channel-layer groups and publishing, for async code (turns) and sync code (services, tasks)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def conversation_group(conversation_id: int) -> str:
    """The group of every socket following a conversation, on any process."""
    return f"chat.conversation.{conversation_id}"


def control_group(message_id: int) -> str:
    """The group a running turn listens on for ``stop`` from any process."""
    return f"chat.turn.{message_id}"


async def publish(conversation_id: int, frame: dict[str, Any]) -> None:
    await get_channel_layer().group_send(conversation_group(conversation_id), {"type": "chat.event", "frame": frame})


def publish_on_commit(frame: dict[str, Any] | None) -> None:
    """From sync code: publish a stored frame once the surrounding transaction commits."""
    if frame is None:
        return

    def send() -> None:
        async_to_sync(publish)(frame["conversation_id"], frame)

    transaction.on_commit(send)
