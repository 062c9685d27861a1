"""ReviewItem now belongs to the review app (review/migrations/0001_initial.py).

State only: the table ``guardrails_reviewitem`` stays, with its rows; the review app's model
points at it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("guardrails", "0003_review_items_audit"),
        ("review", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ReviewItem")],
            database_operations=[],
        ),
    ]
