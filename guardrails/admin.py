from __future__ import annotations

from django.contrib import admin

from guardrails.models import AuditEntry, ModerationEvent, Pattern


@admin.register(Pattern)
class PatternAdmin(admin.ModelAdmin[Pattern]):
    list_display = ["name", "kind", "severity", "applies_to", "enabled", "version", "updated_at"]
    list_filter = ["kind", "severity", "applies_to", "enabled"]
    search_fields = ["name", "expression", "description"]
    readonly_fields = ["version", "created_at", "updated_at"]
    fields = [
        *["name", "kind", "expression", "severity", "applies_to", "enabled", "description", "tests"],
        *readonly_fields,
    ]


@admin.register(ModerationEvent)
class ModerationEventAdmin(admin.ModelAdmin[ModerationEvent]):
    """Read-only for everyone: events are evidence, written only by guardrails.services."""

    list_display = ["id", "message", "action", "check_name", "label", "score", "pattern", "created_at"]
    list_filter = ["action", "check_name", "severity"]
    search_fields = ["label", "model_name"]
    raw_id_fields = ["message", "pattern"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


# --- Audit trail (append-only: written by guardrails.audit for events and review actions) ---


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    list_display = ["seq", "kind", "actor", "subject", "created_at", "hash"]
    list_filter = ["kind"]
    search_fields = ["subject", "actor"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
