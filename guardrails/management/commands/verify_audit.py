"""``manage.py verify_audit``: check the audit trail's hash chain; exit 1 naming the first broken entry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from guardrails.audit import audit_count, audit_verify
from guardrails.models import AuditEntry


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; fails naming the first altered, removed or reordered entry."

    def handle(self, *args: Any, **options: Any) -> None:
        broken = audit_verify()
        if broken is not None:
            raise CommandError(
                f"Audit trail is broken at {broken}. Entries from seq={broken.seq} on cannot be trusted."
            )
        tail = AuditEntry.objects.order_by("-seq").first()
        head = f"; last entry seq={tail.seq}, hash {tail.hash}" if tail else ""
        self.stdout.write(f"Audit trail OK: {audit_count()} entries{head}.")
