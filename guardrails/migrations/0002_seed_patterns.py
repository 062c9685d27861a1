"""Seed the default pattern library (guardrails.library.SEED_V1, frozen)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from guardrails.library import SEED_V1


def seed(apps: Any, schema_editor: Any) -> None:
    Pattern = apps.get_model("guardrails", "Pattern")
    for row in SEED_V1:
        # Existing rows (same name) are staff's: never overwrite them.
        Pattern.objects.get_or_create(name=row["name"], defaults={k: v for k, v in row.items() if k != "name"})


def unseed(apps: Any, schema_editor: Any) -> None:
    Pattern = apps.get_model("guardrails", "Pattern")
    Pattern.objects.filter(name__in=[row["name"] for row in SEED_V1], version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("guardrails", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
