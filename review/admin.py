from __future__ import annotations

from django.contrib import admin

from review.models import ReviewItem, ReviewNote


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin[ReviewItem]):
    """Read-only for everyone (evidence): decisions go through review.services, which audits each one."""

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

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(ReviewNote)
class ReviewNoteAdmin(admin.ModelAdmin[ReviewNote]):
    """Read-only: notes are written through review.services, which audits each one."""

    list_display = ["id", "item", "author", "created_at"]
    raw_id_fields = ["item", "author"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
