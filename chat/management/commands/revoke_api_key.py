"""``manage.py revoke_api_key PREFIX``: revoke a key by its prefix (the part after ``gsc_``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat import services


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the 8 characters after 'gsc_')."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        if not services.api_key_revoke(prefix=prefix.removeprefix(services.API_KEY_PREFIX).split("_")[0]):
            raise CommandError(f"No active key with prefix {prefix!r}.")
        self.stdout.write(f"Revoked {prefix}.")
