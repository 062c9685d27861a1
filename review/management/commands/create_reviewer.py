"""``manage.py create_reviewer USERNAME``: a support agent who can sign in to the console.

Creates the user with a generated password, printed once (only Django's hash is stored), and
grants ``review.review_replies``. An existing user is refused, unless ``--if-missing`` (then
nothing changes: ``make run`` calls it on every start).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.services import REVIEW_PERMISSION


def review_permission() -> Permission:
    app_label, codename = REVIEW_PERMISSION.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


class Command(BaseCommand):
    help = "Create a reviewer (review.review_replies) with a generated password, printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--if-missing", action="store_true", help="Say so and change nothing when the user exists.")

    def handle(self, *args: Any, username: str, if_missing: bool, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            if if_missing:
                self.stdout.write(
                    f"Reviewer {username!r} exists (its password was printed when it was created). "
                    f"To set a new one: python manage.py changepassword {username}"
                )
                return
            raise CommandError(f"User {username!r} already exists.")
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(username=username, password=password)
        user.user_permissions.add(review_permission())
        self.stdout.write(f"Created reviewer {username!r} with password: {password}")
        self.stdout.write("This password is shown only now; keep it (or reset it later with changepassword).")
        self.stdout.write("Sign in at /console/ to review held replies.")
