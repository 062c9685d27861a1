"""``manage.py create_api_key USERNAME [--create-user] [--reviewer]``: print a new key.

The key is printed alone on the last line so scripts can take it with ``tail -n1``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from chat import services

REVIEW_PERMISSION = ("review", "review_replies")


class Command(BaseCommand):
    help = "Create an API key for USERNAME and print it (shown once; only a hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="Create the user if missing.")
        parser.add_argument("--reviewer", action="store_true", help="Grant the review permission.")
        parser.add_argument("--name", default="", help="A label for the key.")

    @transaction.atomic  # a failure leaves no half-made user behind
    def handle(self, *args: Any, username: str, create_user: bool, reviewer: bool, name: str, **options: Any) -> None:
        app_label, codename = REVIEW_PERMISSION
        permission = None
        if reviewer:
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is None:
                raise CommandError("The review permission does not exist yet; run `manage.py migrate` first.")
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user {username!r}; pass --create-user to make one.")
            user = User.objects.create_user(username=username)  # no password: key-only account
            self.stderr.write(f"Created user {username!r}.")
        if permission is not None:
            user.user_permissions.add(permission)
            self.stderr.write(f"Granted {app_label}.{codename} to {username!r}.")
        _, raw = services.api_key_create(user=user, name=name)
        self.stdout.write(raw)
