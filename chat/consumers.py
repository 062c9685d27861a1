"""The chat WebSocket: transport only. Parses frames, calls services, relays events.

Delivery guarantee: for every conversation a socket follows, frames go out in ``seq``
order, each once. Live events come through the conversation's group; anything missed
(events from before the subscription, or not yet stored) is read from the database.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import protocol, realtime, selectors, services, turns
from chat.models import Message
from chat.protocol import ErrorCode, ProtocolError

logger = logging.getLogger(__name__)


@dataclass
class Follow:
    """Where a socket stands in one conversation's event stream."""

    last_seq: int
    # Live events that arrived ahead of a gap, waiting for the gap to be stored.
    waiting: list[dict[str, Any]] = field(default_factory=list)


class RateLimiter:
    """A token bucket: ``per_minute`` messages, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.capacity / 60)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused with 403
            return
        self.user = user
        self.follows: dict[int, Follow] = {}
        self.limiter = RateLimiter(settings.CHAT_RATE_LIMIT_PER_MINUTE)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        # Running turns carry on: they belong to the conversation, not to this socket.
        for conversation_id in getattr(self, "follows", {}):
            await self.channel_layer.group_discard(realtime.conversation_group(conversation_id), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            if text_data is None:
                raise ProtocolError(ErrorCode.BAD_REQUEST, "Send JSON text frames, not binary.")
            if len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
                raise ProtocolError(
                    ErrorCode.TOO_LARGE, f"Frame is larger than {settings.CHAT_MAX_FRAME_BYTES // 1024} KiB."
                )
            frame = protocol.parse(text_data)
            if isinstance(frame, protocol.UserMessage):
                await self.on_user_message(frame)
            elif isinstance(frame, protocol.Stop):
                await self.on_stop(frame)
            elif isinstance(frame, protocol.Subscribe):
                await self.on_subscribe(frame)
            else:
                await self.send_frame({"type": "pong"})
        except ProtocolError as exc:
            await self.send_frame(exc.frame())
        except Exception:
            logger.exception("frame handling failed")
            await self.send_frame(protocol.error_frame(ErrorCode.INTERNAL, "Something went wrong; try again."))

    # --- client frames -------------------------------------------------------------------

    async def on_user_message(self, frame: protocol.UserMessage) -> None:
        if not self.limiter.allow():
            raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many messages; wait a moment before sending more.")
        turn = await database_sync_to_async(services.turn_start)(
            user=self.user,
            text=frame.text,
            conversation_id=frame.conversation_id,
            client_msg_id=frame.client_msg_id,
        )
        started = turn.started_frame
        if turn.duplicate:
            # Idempotent resend: tell the sender which turn it is; start nothing new.
            await self.send_frame(started)
            return
        await self.follow(turn.conversation_id, after_seq=started["seq"] - 1)
        await realtime.publish(turn.conversation_id, started)
        turns.start(turn)

    async def on_stop(self, frame: protocol.Stop) -> None:
        message = await database_sync_to_async(selectors.message_for_user)(user=self.user, message_id=frame.message_id)
        if message is None or message.role != Message.Role.ASSISTANT:
            raise ProtocolError(ErrorCode.NOT_FOUND, "No such reply.", message_id=frame.message_id)
        if message.status != Message.Status.STREAMING:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "That reply has already finished.", message_id=frame.message_id)
        await turns.request_stop(frame.message_id)

    async def on_subscribe(self, frame: protocol.Subscribe) -> None:
        conversation = await database_sync_to_async(selectors.conversation_for_user)(
            user=self.user, conversation_id=frame.conversation_id
        )
        if conversation is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "No such conversation.")
        await self.follow(conversation.pk, after_seq=frame.after_seq, replace=True)
        await self.catch_up(conversation.pk)

    # --- events from the channel layer ---------------------------------------------------

    async def chat_event(self, message: dict[str, Any]) -> None:
        frame = message["frame"]
        follow = self.follows.get(frame["conversation_id"])
        if follow is None or frame["seq"] <= follow.last_seq:
            return
        if follow.waiting or frame["seq"] != follow.last_seq + 1:
            follow.waiting.append(frame)
            await self.catch_up(frame["conversation_id"])
            return
        follow.last_seq = frame["seq"]
        await self.send_frame(frame)

    async def chat_flushed(self, message: dict[str, Any]) -> None:
        follow = self.follows.get(message["conversation_id"])
        if follow is not None and follow.waiting:
            await self.catch_up(message["conversation_id"])

    # --- helpers -------------------------------------------------------------------------

    async def follow(self, conversation_id: int, *, after_seq: int, replace: bool = False) -> None:
        if conversation_id not in self.follows:
            await self.channel_layer.group_add(realtime.conversation_group(conversation_id), self.channel_name)
        elif not replace:
            return
        self.follows[conversation_id] = Follow(last_seq=after_seq)

    async def catch_up(self, conversation_id: int) -> None:
        """Send stored events after the socket's position, then any live ones now in order."""
        follow = self.follows[conversation_id]
        stored = await database_sync_to_async(selectors.events_after)(
            conversation_id=conversation_id, after_seq=follow.last_seq
        )
        ahead = sorted(follow.waiting, key=lambda f: f["seq"])
        for frame in [*stored, *ahead]:
            if frame["seq"] == follow.last_seq + 1:
                follow.last_seq = frame["seq"]
                await self.send_frame(frame)
        # What is still ahead of a gap waits for the running turn's next flush.
        follow.waiting = [f for f in ahead if f["seq"] > follow.last_seq]

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=protocol.dumps(frame))
