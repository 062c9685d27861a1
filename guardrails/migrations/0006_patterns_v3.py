"""Update the seeded pattern library to guardrails.library.SEED_V3: contracted negations
("can't", "won't") count as negations, and money put back on a card or said to arrive in an
account is a grant. Rows staff have edited are left alone (see ``library_upgrade``)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from guardrails.library import SEED_V2, SEED_V3, library_upgrade


def upgrade(apps: Any, schema_editor: Any) -> None:
    library_upgrade(apps.get_model("guardrails", "Pattern"), SEED_V2, SEED_V3)


def downgrade(apps: Any, schema_editor: Any) -> None:
    library_upgrade(apps.get_model("guardrails", "Pattern"), SEED_V3, SEED_V2)


class Migration(migrations.Migration):
    dependencies = [("guardrails", "0005_patterns_v2")]
    operations = [migrations.RunPython(upgrade, downgrade)]
