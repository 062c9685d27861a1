"""Signals the chat app sends; apps above it (review) listen."""

from __future__ import annotations

from django.dispatch import Signal

# Sent (send_robust) once a held or flagged reply's final state is stored, with message_id=<int>.
reply_needs_review = Signal()
