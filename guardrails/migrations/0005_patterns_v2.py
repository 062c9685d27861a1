"""Update the seeded pattern library to guardrails.library.SEED_V2 (context-aware rules).

A row whose expression is still the seeded one (SEED_V1) gets the new expression, description
and examples, and its version goes up, so the checker recompiles it and events record the new
version; its severity and enabled flag (staff's choices) are kept. A row whose expression
staff have edited is left alone: their rule wins. Missing rows are created.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from guardrails.library import LIBRARY_FIELDS, SEED_V1, SEED_V2, library_upgrade


def upgrade(apps: Any, schema_editor: Any) -> None:
    library_upgrade(apps.get_model("guardrails", "Pattern"), SEED_V1, SEED_V2)


def downgrade(apps: Any, schema_editor: Any) -> None:
    Pattern = apps.get_model("guardrails", "Pattern")
    new = {row["name"]: row for row in SEED_V2}
    for row in SEED_V1:
        pattern = Pattern.objects.filter(name=row["name"]).first()
        if pattern is None or pattern.expression != new[row["name"]]["expression"]:
            continue
        for k in LIBRARY_FIELDS:
            if k != "severity":
                setattr(pattern, k, row[k])
        pattern.version += 1
        pattern.save()


class Migration(migrations.Migration):
    dependencies = [("guardrails", "0004_reviewitem_moved_to_review")]
    operations = [migrations.RunPython(upgrade, downgrade)]
