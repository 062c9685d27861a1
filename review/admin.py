from __future__ import annotations

from django.contrib import admin

from guardrails.admin import EvidenceAdmin
from review.models import ReviewItem, ReviewNote


@admin.register(ReviewItem)
class ReviewItemAdmin(EvidenceAdmin[ReviewItem]):
    """Read-only for everyone (evidence): decisions go through review.services, which audits each one."""

    list_display = [
        *["id", "reply", "status", "overdue", "priority", "severity"],
        *["sla_deadline", "claimed_by", "decision"],
    ]
    list_filter = ["status", "overdue", "severity", "decision"]
    raw_id_fields = ["reply", "claimed_by", "decided_by"]


@admin.register(ReviewNote)
class ReviewNoteAdmin(EvidenceAdmin[ReviewNote]):
    """Read-only: notes are written through review.services, which audits each one."""

    list_display = ["id", "item", "author", "created_at"]
    raw_id_fields = ["item", "author"]
