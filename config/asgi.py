"""ASGI entry point: ``config.asgi:application`` (daphne or uvicorn)."""

from __future__ import annotations

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Static files are a handful of small plain files (no build step); the ASGI server serves
# them itself so `make run` and the compose file need no separate web server.
django_asgi_app = ASGIStaticFilesHandler(get_asgi_application())  # before importing models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from guardrails.startup import load_models  # noqa: E402

# Models load once per process, before the first request (and a missing model with
# TOXICITY_FALLBACK=none stops the process here, not mid-reply).
load_models()

from chat import warmup  # noqa: E402
from chat.auth import ChatAuthMiddleware  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from review.routing import websocket_urlpatterns as console_urlpatterns  # noqa: E402

# The checks run once and the LLM server is probed in the background; /readyz says when done.
warmup.start()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # channels-stubs types URLRouter's routes as its own pattern class; Django's path() is
        # what channels documents and accepts.
        "websocket": ChatAuthMiddleware(URLRouter(websocket_urlpatterns + console_urlpatterns)),  # type: ignore[arg-type]
    }
)
