from __future__ import annotations

from django.urls import path

from chat.consumers import ChatConsumer

# Channels routes ASGI applications with Django's path(), whose stub only knows views.
websocket_urlpatterns = [path("ws/chat/", ChatConsumer.as_asgi())]  # type: ignore[arg-type]
