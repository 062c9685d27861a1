from __future__ import annotations

import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger(__name__)


class GuardrailsConfig(AppConfig):
    name = "guardrails"
    label = "guardrails"
    verbose_name = "Guardrails"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if not settings.GUARDRAILS_ENABLED:
            logger.warning("GUARDRAILS_ENABLED is false: replies are shown UNCHECKED (for measurements only)")
