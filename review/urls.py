"""``/api/reviews/…``: included from config/urls.py."""

from __future__ import annotations

from django.urls import path

from review import api

app_name = "reviews"

urlpatterns = [
    path("", api.review_list, name="list"),
    path("<int:item_id>/", api.review_detail, name="detail"),
    path("<int:item_id>/claim", api.review_claim, name="claim"),
    path("<int:item_id>/release", api.review_release, name="release"),
    path("<int:item_id>/decision", api.review_decision, name="decision"),
]
