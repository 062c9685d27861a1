"""Request types for views behind a login check (django-stubs' recommended pattern)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedHttpRequest(HttpRequest):
    """A request that a login check let through: ``user`` is a signed-in :class:`User`."""

    user: User
