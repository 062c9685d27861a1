from __future__ import annotations

from typing import TypeVar

from django.contrib import admin
from django.db.models import Model

from guardrails.models import AuditEntry, ModerationEvent, Pattern

_M = TypeVar("_M", bound=Model)


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


class EvidenceAdmin(admin.ModelAdmin[_M]):
    """Read-only for everyone, superusers included: evidence is written only through the
    services that audit it (moderation events, review items and notes, audit entries)."""

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(ModerationEvent)
class ModerationEventAdmin(EvidenceAdmin[ModerationEvent]):
    """Read-only for everyone: events are evidence, written only by guardrails.services."""

    list_display = ["id", "message", "action", "check_name", "label", "score", "pattern", "created_at"]
    list_filter = ["action", "check_name", "severity"]
    search_fields = ["label", "model_name"]
    raw_id_fields = ["message", "pattern"]


# --- Audit trail (append-only: written by guardrails.audit for events and review actions) ---


@admin.register(AuditEntry)
class AuditEntryAdmin(EvidenceAdmin[AuditEntry]):
    list_display = ["seq", "kind", "actor", "subject", "created_at", "hash"]
    list_filter = ["kind"]
    search_fields = ["subject", "actor"]
