"""``/console/…``: included from config/urls.py."""

from __future__ import annotations

from django.urls import path

from review import console

app_name = "console"

urlpatterns = [
    path("", console.console_page, name="index"),
    path("api/items", console.console_items, name="items"),
    path("api/items/<int:item_id>", console.console_item, name="item"),
    path("api/items/<int:item_id>/notes", console.console_note, name="note"),
    path("api/bulk", console.console_bulk, name="bulk"),
    path("api/stats", console.console_stats, name="stats"),
]
