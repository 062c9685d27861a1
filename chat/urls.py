from __future__ import annotations

from django.urls import path

from chat import views

app_name = "chat"


urlpatterns = [
    path("", views.index, name="index"),
    path("c/<int:conversation_id>/", views.conversation_page, name="conversation"),
    path("api/conversations/", views.api_conversations, name="api-conversations"),
    path("api/conversations/<int:conversation_id>/", views.api_conversation, name="api-conversation"),
    path(
        "api/conversations/<int:conversation_id>/rename", views.api_conversation_rename, name="api-conversation-rename"
    ),
    path(
        "api/conversations/<int:conversation_id>/delete", views.api_conversation_delete, name="api-conversation-delete"
    ),
    path("api/conversations/<int:conversation_id>/seen", views.api_conversation_seen, name="api-conversation-seen"),
    path("api/messages/<int:message_id>/rating", views.api_message_rating, name="api-message-rating"),
]
