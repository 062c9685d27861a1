"""``manage.py ensure_demo_user``: create the demo login on first run, with a random password.

The password is printed once, when the user is created, and never stored anywhere but as
Django's hash. Later runs only say that the user exists and how to set a new password.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create the demo user (DEMO_USERNAME, default 'demo') with a random password, if missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=None, help="Default: the DEMO_USERNAME setting.")

    def handle(self, *args: Any, username: str | None, **options: Any) -> None:
        username = username or settings.DEMO_USERNAME
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(
                f"Demo user {username!r} exists (its password was printed when it was created). "
                f"To set a new one: python manage.py changepassword {username}"
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_user(username=username, password=password)
        self.stdout.write(f"Created demo user {username!r} with password: {password}")
        self.stdout.write("This password is shown only now; keep it (or reset it later with changepassword).")
