from __future__ import annotations

from django.apps import AppConfig

from chat.signals import reply_needs_review, reply_reported


class ReviewConfig(AppConfig):
    """The human review loop on top of chat: queue, claims, decisions, escalation."""

    name = "review"
    label = "review"
    verbose_name = "Review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Django's way to register receivers: review.receivers imports the models, which can only
        # be loaded once the app registry is ready. Not a cycle: nothing imports review.apps.
        from review import receivers

        reply_needs_review.connect(receivers.queue_review_on_commit, dispatch_uid="review-queue-review")
        reply_reported.connect(receivers.review_user_report, dispatch_uid="review-user-report")
