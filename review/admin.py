from __future__ import annotations

from django.contrib import admin

from review.models import ReviewItem


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin[ReviewItem]):
    """Read-only: decisions go through review.services, which audits each one."""

    list_display = [
        *["id", "reply", "status", "overdue", "priority", "severity"],
        *["sla_deadline", "claimed_by", "decision"],
    ]
    list_filter = ["status", "overdue", "severity", "decision"]
    raw_id_fields = ["reply", "claimed_by", "decided_by"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
