from __future__ import annotations

from django.urls import path

from review.consumers import ConsoleConsumer

# Channels routes ASGI applications with Django's path(), whose stub only knows views.
websocket_urlpatterns = [path("ws/console/", ConsoleConsumer.as_asgi())]  # type: ignore[arg-type]
