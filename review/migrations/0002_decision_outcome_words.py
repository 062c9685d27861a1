"""Store decisions as the outcome words the user's client sees: approved, rejected, edited.

The same word now names a decision in the database, the services, the JSON API's output and
the ``review_resolved`` frame. Audit entries already written keep the old verbs: they are
hash-chained evidence and are never rewritten.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

OUTCOME = {"approve": "approved", "reject": "rejected", "edit": "edited"}


def to_outcomes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    item = apps.get_model("review", "ReviewItem")
    for verb, outcome in OUTCOME.items():
        item.objects.using(schema_editor.connection.alias).filter(decision=verb).update(decision=outcome)


def to_verbs(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    item = apps.get_model("review", "ReviewItem")
    for verb, outcome in OUTCOME.items():
        item.objects.using(schema_editor.connection.alias).filter(decision=outcome).update(decision=verb)


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="reviewitem",
            name="decision",
            field=models.CharField(
                blank=True,
                choices=[("approved", "Approved"), ("rejected", "Rejected"), ("edited", "Edited")],
                max_length=8,
            ),
        ),
        migrations.RunPython(to_outcomes, to_verbs),
    ]
