"""Update the seeded pattern library to guardrails.library.SEED_V4: the refund, account-action
and guarantee rules find the same matches with less work (a look-ahead for the words a branch
needs next runs before its look-behinds). Rows staff have edited are left alone (see
``library_upgrade``)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from guardrails.library import SEED_V3, SEED_V4, library_upgrade


def upgrade(apps: Any, schema_editor: Any) -> None:
    library_upgrade(apps.get_model("guardrails", "Pattern"), SEED_V3, SEED_V4)


def downgrade(apps: Any, schema_editor: Any) -> None:
    library_upgrade(apps.get_model("guardrails", "Pattern"), SEED_V4, SEED_V3)


class Migration(migrations.Migration):
    dependencies = [("guardrails", "0006_patterns_v3")]
    operations = [migrations.RunPython(upgrade, downgrade)]
