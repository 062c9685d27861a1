from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from chat import views as chat_views
from config.metrics import metrics_view
from review import usage_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", chat_views.healthz, name="healthz"),
    path("readyz", chat_views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/reviews/", include("review.urls")),
    path("console/usage/", usage_views.usage_page, name="console-usage"),
    path("console/", include("review.console_urls")),
    path("", include("chat.urls")),
]
