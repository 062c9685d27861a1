"""The chat WebSocket: transport only. Parses frames, calls services, relays events.

For every conversation a socket follows, events go out in ``seq`` order, each once: a
:class:`chat.events.Follower` decides what to send; this module only moves frames (live ones
from the conversation's group, missed ones read with :func:`chat.events.replay`). Domain
errors of the services become ``error`` frames here.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import User

from chat import control, events, leases, protocol, selectors, services, turns
from chat.access import AccessGuard
from chat.dispatch import DirectDispatch
from chat.errors import Busy, ChatError, NotFound, Overloaded
from chat.models import Message
from chat.protocol import ErrorCode, EventFrame, ProtocolError, ServerFrame
from observability import loadwatch, logs, metrics

logger = logging.getLogger(__name__)


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


class ChatConsumer(DirectDispatch, AccessGuard, AsyncWebsocketConsumer):
    """The chat socket. Closed (``access.CLOSE_CODE``) once its key or session is revoked."""

    # Set in connect() for an accepted socket.
    user: User
    followers: dict[int, events.Follower]
    limiter: RateLimiter
    counted = False  # whether this socket is in the open-sockets gauge

    async def connect(self) -> None:
        user = self.scope.get("user")
        # A session's user is a lazy proxy of a User; AnonymousUser is not a User.
        if not isinstance(user, User) or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused with 403
            return
        self.user = user
        self.followers = {}
        self.limiter = RateLimiter(settings.CHAT_RATE_LIMIT_PER_MINUTE)
        leases.keep()  # this process also ends replies whose server died
        loadwatch.watch()  # admission control reads how far behind the event loop runs
        await self.accept()
        metrics.SOCKETS_OPEN.labels(kind="chat").inc()
        self.counted = True
        await self.access_watch()

    async def disconnect(self, code: int) -> None:
        if self.counted:
            metrics.SOCKETS_OPEN.labels(kind="chat").dec()
            self.counted = False
        # Running turns carry on: they belong to the conversation, not to this socket.
        await self.access_unwatch()
        for conversation_id in getattr(self, "followers", {}):
            await self.channel_layer.group_discard(events.conversation_group(conversation_id), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # One request id per frame; a turn started here keeps it (tasks copy the context).
        logs.bind(request_id=logs.new_request_id(), conversation_id=None, message_id=None)
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
                await self.send_frame(protocol.pong())
        except ProtocolError as exc:
            await self.send_frame(exc.frame())
        except ChatError as exc:
            code = _CODES.get(type(exc), ErrorCode.BAD_REQUEST)
            retry_after = exc.retry_after if isinstance(exc, Overloaded) else None
            await self.send_frame(
                protocol.error_frame(code, exc.detail, message_id=exc.message_id, retry_after=retry_after)
            )
        except Exception:
            logger.exception("frame handling failed")
            await self.send_frame(protocol.error_frame(ErrorCode.INTERNAL, "Something went wrong; try again."))

    # --- client frames -------------------------------------------------------------------

    async def on_user_message(self, frame: protocol.UserMessage) -> None:
        if not self.limiter.allow():
            raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many messages; wait a moment before sending more.")
        if (overload := _overloaded()) is not None:  # before anything is stored: it can simply be resent
            metrics.TURNS_REFUSED.labels(reason=overload).inc()
            retry_after = settings.CHAT_OVERLOAD_RETRY_AFTER
            raise Overloaded(f"The assistant is busy with other replies; try again in {retry_after} s.",
                             retry_after=retry_after)  # fmt: skip
        turn = await database_sync_to_async(services.turn_start)(
            user=self.user,
            text=frame.text,
            conversation_id=frame.conversation_id,
            client_msg_id=frame.client_msg_id,
            continue_of=frame.continue_of,
            regenerate_of=frame.regenerate_of,
            edit_of=frame.edit_of,
        )
        started = turn.started_frame
        if turn.duplicate:
            # Idempotent resend: tell the sender which turn it is; start nothing new.
            await self.send_frame(started)
            return
        await self.follow(turn.conversation_id, after_seq=started["seq"] - 1)
        await events.publish(started)
        turns.start(turn)

    async def on_stop(self, frame: protocol.Stop) -> None:
        message = await database_sync_to_async(selectors.message_for_user)(user=self.user, message_id=frame.message_id)
        if message is None or message.role != Message.Role.ASSISTANT:
            raise ProtocolError(ErrorCode.NOT_FOUND, "No such reply.", message_id=frame.message_id)
        if message.status != Message.Status.STREAMING:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "That reply has already finished.", message_id=frame.message_id)
        await control.request_stop(frame.message_id)

    async def on_subscribe(self, frame: protocol.Subscribe) -> None:
        conversation = await database_sync_to_async(selectors.conversation_for_user)(
            user=self.user, conversation_id=frame.conversation_id
        )
        if conversation is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "No such conversation.")
        await database_sync_to_async(services.conversation_dead_turns_fail)(conversation_id=conversation.pk)
        await self.follow(conversation.pk, after_seq=frame.after_seq, replace=True)
        await self.replay(conversation.pk)

    # --- layer messages -------------------------------------------------------------------

    async def chat_frame(self, message: dict[str, Any]) -> None:
        """A live event of a followed conversation (``events.FRAME``)."""
        frame = cast(EventFrame, message["frame"])
        follower = self.followers.get(frame["conversation_id"])
        if follower is None:
            return
        send, read_gap = follower.live(frame)
        for item in send:
            await self.send_frame(item)
        if read_gap:
            await self.replay(frame["conversation_id"])

    async def chat_stored(self, message: dict[str, Any]) -> None:
        """A turn stored a batch (``events.STORED``): a gap this socket waits on may be readable."""
        follower = self.followers.get(message["conversation_id"])
        if follower is not None and follower.behind(message["seq"]):
            await self.replay(message["conversation_id"])

    # --- helpers -------------------------------------------------------------------------

    async def follow(self, conversation_id: int, *, after_seq: int, replace: bool = False) -> None:
        if conversation_id not in self.followers:
            await self.channel_layer.group_add(events.conversation_group(conversation_id), self.channel_name)
        elif not replace:
            return
        self.followers[conversation_id] = events.Follower(after_seq=after_seq)

    async def replay(self, conversation_id: int) -> None:
        """Send stored events after the socket's cursor, then any live ones now in order."""
        follower = self.followers[conversation_id]
        stored = await database_sync_to_async(events.replay)(
            conversation_id=conversation_id, after_seq=follower.after_seq
        )
        for frame in follower.stored(stored):
            await self.send_frame(frame)

    async def send_frame(self, frame: ServerFrame) -> None:
        await self.send(text_data=protocol.dumps(frame))


def _overloaded() -> str | None:
    """Why this process takes no new turn now, if so: ``CHAT_MAX_RUNNING_TURNS`` turns run
    here ("running"), or its event loop runs ``CHAT_MAX_LOOP_LAG_MS`` behind ("lag"), past
    which the checks of the running replies would start to time out and hold good text."""
    if control.at_capacity():
        return "running"
    limit_ms: int = settings.CHAT_MAX_LOOP_LAG_MS
    if limit_ms > 0 and loadwatch.lag() * 1000 > limit_ms:
        return "lag"
    return None


_CODES: dict[type[ChatError], str] = {
    NotFound: ErrorCode.NOT_FOUND,
    Busy: ErrorCode.BUSY,
    Overloaded: ErrorCode.BACKEND_OVERLOADED,
}
