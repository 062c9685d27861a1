"""The review queue: one item per held or flagged reply, waiting for (or having had) a decision.

The table was created by the guardrails app and keeps its name (``guardrails_reviewitem``):
the model moved here with a state-only migration, so no row was copied or lost. The audit
trail (``guardrails.AuditEntry``) stays in guardrails, which appends moderation events to it
and must not import this app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from guardrails.models import Pattern


class ReviewItem(models.Model):
    """One held or flagged reply waiting for (or having had) a human decision.

    One per reply (``reply`` is unique), so a task delivered twice cannot queue it twice.
    ``overdue`` is set by the escalation task once ``sla_deadline`` passes without a decision;
    past ``REVIEW_EXPIRE_HOURS`` the item gets the configured default outcome and ``expired``.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        CLAIMED = "claimed"
        DECIDED = "decided"
        EXPIRED = "expired"

    class Decision(models.TextChoices):
        """The outcome, in the words the user's client sees (``review_resolved.decision``)."""

        APPROVED = "approved"
        REJECTED = "rejected"
        EDITED = "edited"

    class Source(models.TextChoices):
        """What queued the item: a check held or flagged the reply, or its user reported it."""

        MODERATION = "moderation"
        USER_REPORT = "user_report"

    reply = models.OneToOneField("chat.Message", on_delete=models.CASCADE, related_name="review_item")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MODERATION)
    # A user's report (``chat.signals.reply_reported``): why, in their words, and when. Set on an
    # item the report made, and on a moderation item of the same reply (one item per reply).
    report_reason = models.CharField(max_length=16, blank=True)
    report_comment = models.TextField(blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Higher is more urgent: held before flagged, toxicity before patterns (review.services).
    priority = models.PositiveSmallIntegerField(default=0)
    severity = models.CharField(max_length=8, choices=Pattern.Severity.choices, default=Pattern.Severity.HOLD)
    # The reasons as they were when the item was queued: [{check, label, score, span, ...}].
    reasons = models.JSONField(default=list, blank=True)
    sla_deadline = models.DateTimeField()
    overdue = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # What the user was shown in place of the held part (when approved: the held text itself).
    decision_text = models.TextField(blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "guardrails_reviewitem"  # made by guardrails before this app existed
        ordering = ["-priority", "sla_deadline", "id"]
        permissions = [("review_replies", "Can review held replies")]
        indexes = [
            models.Index(fields=["status", "overdue", "sla_deadline"], name="guardrails__status_50d2ee_idx"),
            # The console's queue: open items by deadline, and decided ones newest first.
            models.Index(fields=["status", "sla_deadline", "id"], name="review_queue_deadline_idx"),
            models.Index(fields=["status", "decided_at"], name="review_decided_at_idx"),
        ]

    def __str__(self) -> str:
        return f"review of message {self.reply_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.CLAIMED)


class ReviewNote(models.Model):
    """A reviewer's note on an item: several per item, each with its author and time.

    Written only by ``review.services.review_note_add``, which audits it."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.pk} on review item {self.item_id}"
