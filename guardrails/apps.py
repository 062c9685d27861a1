from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class GuardrailsConfig(AppConfig):
    name = "guardrails"
    label = "guardrails"
    verbose_name = "Guardrails"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guardrails import selectors
        from guardrails.models import Pattern

        # An edit in this process takes effect on the very next check (other processes
        # notice within GUARDRAILS_PATTERNS_RECHECK_S).
        post_save.connect(selectors.forget_pattern_rules, sender=Pattern, dispatch_uid="guardrails-patterns-saved")
        post_delete.connect(selectors.forget_pattern_rules, sender=Pattern, dispatch_uid="guardrails-patterns-deleted")
