"""Signals the chat app sends; apps above it (review) listen."""

from __future__ import annotations

from django.dispatch import Signal

# Sent (send_robust) once a held or flagged reply's final state is stored, with message_id=<int>.
reply_needs_review = Signal()

# Sent (send_robust) when a user sends a thumbs-down reply to the review queue, with
# message_id=<int>, reason=<"harmful" | "made_up" | "other">, comment=<str>, inside the
# rating's transaction: a receiver's writes commit (or roll back) with it.
reply_reported = Signal()
