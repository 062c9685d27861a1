"""A resent message is found by its ``client_msg_id`` for its owner only, on the database the
suite runs against (SQLite here, PostgreSQL in CI); the SQL built once answers as the ORM does."""

from __future__ import annotations

from typing import Any

import pytest

from chat import selectors, services
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def orm_answer(owner_id: int, client_msg_id: str) -> tuple[int, int] | None:
    return (
        Message.objects.filter(conversation__owner_id=owner_id, client_msg_id=client_msg_id, role=Message.Role.USER)
        .values_list("pk", "conversation_id")
        .first()
    )


def test_a_resent_message_finds_its_turn_for_its_owner_only(alice: Any, bob: Any) -> None:
    first = services.turn_start(user=alice, text="hello", conversation_id=None, client_msg_id="web-1")

    found = selectors.turn_started_for_client_msg_id(user=alice, client_msg_id="web-1")
    assert found is not None
    assert (found["conversation_id"], found["user_message_id"], found["message_id"]) == (
        first.conversation_id,
        first.user_message_id,
        first.message_id,
    )
    # Another user sending the same id (ids are chosen by clients) starts their own turn.
    assert selectors.turn_started_for_client_msg_id(user=bob, client_msg_id="web-1") is None
    assert selectors.turn_started_for_client_msg_id(user=alice, client_msg_id="web-2") is None


def test_the_lookup_answers_as_the_orm_query_it_replaces(alice: Any, bob: Any) -> None:
    mine = Conversation.objects.create(owner=alice, title="a")
    other = Conversation.objects.create(owner=alice, title="b")
    theirs = Conversation.objects.create(owner=bob, title="c")
    rows = [
        (mine, Message.Role.USER, "same"),
        (other, Message.Role.USER, "same"),  # the same id in a second conversation: the first row wins
        (theirs, Message.Role.USER, "same"),
        (mine, Message.Role.ASSISTANT, "reply-only"),  # not a user message
        (theirs, Message.Role.USER, "bobs"),
        (mine, Message.Role.USER, 'it\'s "quoted"; --'),
    ]
    for conversation, role, client_msg_id in rows:
        Message.objects.create(conversation=conversation, role=role, text="x", client_msg_id=client_msg_id)

    asked = {"same", "reply-only", "bobs", 'it\'s "quoted"; --', "never-sent"}
    for owner in (alice, bob):
        for client_msg_id in asked:
            ours = selectors._user_message_with_client_msg_id(owner_id=owner.pk, client_msg_id=client_msg_id)
            assert ours == orm_answer(owner.pk, client_msg_id), (owner.username, client_msg_id)
    # What the cases above are: found where the owner sent it as a user message, else nothing.
    assert orm_answer(alice.pk, "same") is not None and orm_answer(alice.pk, "bobs") is None
    assert orm_answer(alice.pk, "reply-only") is None and orm_answer(bob.pk, "bobs") is not None
