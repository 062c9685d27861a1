"""Domain errors the chat services raise; adapters map them (consumer: protocol codes, views: HTTP)."""

from __future__ import annotations


class ChatError(Exception):
    """A request the chat services refuse; ``detail`` is a plain sentence for the user."""

    def __init__(self, detail: str, *, message_id: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.message_id = message_id


class NotFound(ChatError):
    """No such conversation or reply for this user (another user's rows do not exist)."""


class Overloaded(ChatError):
    """This process runs as many turns as it may (``CHAT_MAX_RUNNING_TURNS``); try again later."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Busy(ChatError):
    """A reply is still being generated in that conversation; ``message_id`` names it."""


class Invalid(ChatError):
    """A well-formed request that does not fit the conversation's state (e.g. regenerating a
    reply that is not the last one); ``detail`` says what to do instead."""
