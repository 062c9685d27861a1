"""ReviewItem moves from guardrails to this app without touching its table.

State only: the model keeps ``db_table="guardrails_reviewitem"`` and its index name, so every
row (and every foreign key to chat.Message and the users) stays where it is. The model's
content type is relabelled too, so permissions already granted (``review_replies``) and admin
history follow the model instead of being orphaned.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def relabel_content_type(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if content_type.objects.using(db).filter(app_label="review", model="reviewitem").exists():
        return
    content_type.objects.using(db).filter(app_label="guardrails", model="reviewitem").update(app_label="review")


def unlabel_content_type(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if content_type.objects.using(db).filter(app_label="guardrails", model="reviewitem").exists():
        return
    content_type.objects.using(db).filter(app_label="review", model="reviewitem").update(app_label="guardrails")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("chat", "0002_parked_events"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("guardrails", "0003_review_items_audit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ReviewItem",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Pending"), ("claimed", "Claimed"), ("decided", "Decided"), ("expired", "Expired")],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("priority", models.PositiveSmallIntegerField(default=0)),
                        (
                            "severity",
                            models.CharField(
                                choices=[("hold", "Hold (withhold the text)"), ("flag", "Flag (show it, queue the reply for review)")],
                                default="hold",
                                max_length=8,
                            ),
                        ),
                        ("reasons", models.JSONField(blank=True, default=list)),
                        ("sla_deadline", models.DateTimeField()),
                        ("overdue", models.BooleanField(default=False)),
                        ("escalated_at", models.DateTimeField(blank=True, null=True)),
                        ("claimed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "decision",
                            models.CharField(
                                blank=True,
                                choices=[("approve", "Approve"), ("reject", "Reject"), ("edit", "Edit")],
                                max_length=8,
                            ),
                        ),
                        ("decided_at", models.DateTimeField(blank=True, null=True)),
                        ("decision_text", models.TextField(blank=True)),
                        ("note", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "claimed_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "decided_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "reply",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE, related_name="review_item", to="chat.message"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "guardrails_reviewitem",
                        "ordering": ["-priority", "sla_deadline", "id"],
                        "permissions": [("review_replies", "Can review held replies")],
                        "indexes": [
                            models.Index(fields=["status", "overdue", "sla_deadline"], name="guardrails__status_50d2ee_idx")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, unlabel_content_type, elidable=False),
    ]
