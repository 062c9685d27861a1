"""Conversations, their messages, the event log that replays them, API keys, ratings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from chat.segments import Segments


class Conversation(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    # Highest event seq stored. While a turn runs, the turn owns the counter (see chat/events.py).
    last_seq = models.PositiveBigIntegerField(default=0)
    # Events raised while a turn ran (a review decision): the turn appends them when it ends.
    parked_events = models.JSONField(default=list, blank=True)
    # GUARDRAILS_PII=mask: placeholder -> the user's value ({"<EMAIL_1>": "..."}), so the same
    # value is masked alike in every turn and the model's echoes are restored. Personal data:
    # never logged, never sent to clients, deleted with the conversation.
    pii_mapping = models.JSONField(default=dict, blank=True)
    # Set when its owner deletes it: hidden from the owner from then on; its messages (held
    # replies included) stay for reviewers and the audit trail.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Set when a review decision arrives; cleared when the owner has seen the conversation.
    decision_unseen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        HELD = "held"
        STOPPED = "stopped"
        FAILED = "failed"
        REFUSED = "refused"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    # Everything the model generated (held parts included, for reviewers); what the user
    # sees is `segments` (see chat/segments.py).
    text = models.TextField(blank=True)
    segments = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    finish_reason = models.CharField(max_length=32, blank=True)
    usage = models.JSONField(null=True, blank=True)
    # From `usage`, typed for sums per user and day (the usage page, CHAT_DAILY_TOKEN_BUDGET).
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_detail = models.TextField(blank=True)
    # NULL, not "": the unique constraint below applies only to messages that carry an id.
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    # While streaming: the process running the reply renews this every few seconds (see
    # chat.control); past it, any process treats the reply as dead (its server stopped).
    lease_until = models.DateTimeField(null=True, blank=True)
    # Replaced by a later turn (regenerate, edit and resend): kept, but left out of the
    # model's history and of the page.
    superseded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="message_client_msg_id_once_per_conversation",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "status"]),
            # Usage per period (the usage page, the daily budget) scans replies by time.
            models.Index(fields=["created_at"], name="message_created_at_idx"),
            # The lease sweep: streaming replies whose lease ran out.
            models.Index(fields=["status", "lease_until"]),
            # A resent message is looked up by its client_msg_id before its conversation is
            # known (a new conversation's first message): without it, every turn start with
            # a client_msg_id searched each of the user's conversations.
            models.Index(
                fields=["client_msg_id"], condition=Q(client_msg_id__isnull=False), name="message_client_msg_id_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk} ({self.status})"

    @property
    def shown_text(self) -> str:
        """What the user sees now: released text, held parts as placeholder or resolution."""
        if self.role == self.Role.USER:
            return self.text
        # An assistant reply shows only checked segments: never fall back to the raw text.
        return Segments.from_json(self.segments).shown_text(settings.GUARDRAILS_PLACEHOLDER)


class Event(models.Model):
    """One server→client frame about a conversation, stored so reconnects replay it once."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=32)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["conversation", "seq"], name="event_seq_once_per_conversation")]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} in conversation {self.conversation_id}"


class ApiKey(models.Model):
    """A bearer key for programs. Only a SHA-256 of the secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Rating(models.Model):
    """A user's thumbs up/down on one assistant message; changeable, one per message and user."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)

    class Reason(models.TextChoices):
        """Why a reply got a thumbs down (optional; with ``report`` it goes to the review queue)."""

        HARMFUL = "harmful"
        MADE_UP = "made_up"
        OTHER = "other"

    value = models.SmallIntegerField(choices=[(1, "up"), (-1, "down")])
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    comment = models.TextField(blank=True, max_length=2000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="rating_once_per_user")]

    def __str__(self) -> str:
        return f"{self.get_value_display()} on reply {self.message_id}"
