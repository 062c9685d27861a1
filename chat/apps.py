from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receivers: sockets whose credentials were revoked are closed (access);
        # failed sign-ins are timed for the slowing (throttle).
        from chat import access, throttle  # noqa: F401
