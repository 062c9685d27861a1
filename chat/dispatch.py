"""Consumers that deliver a frame without a trip to the database thread.

Channels' ``AsyncConsumer.dispatch`` runs ``close_old_connections`` through ``sync_to_async``
before every handler: a hand-off to the one thread that runs all database work, for every
message a socket gets (each reply's deltas, ``checking`` and ``done`` frames, each client
frame). Under load those hand-offs queue behind turn starts and saves, and the frame waits with
them. Our consumers reach the database only through ``database_sync_to_async``, which closes
old connections itself, on that thread, before and after each call; so the per-message one is
dropped here.
"""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name


class DirectDispatch:
    """Mixin for an ``AsyncConsumer``: ``dispatch`` calls the handler and nothing else.

    Contract for the consumer: every database access goes through ``database_sync_to_async``
    (not Django's async ORM, which skips the connection clean-up)."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
