"""``chat.rows`` stores exactly what the ORM stores, on the database the suite runs against
(SQLite here, PostgreSQL in CI): rows are compared column by column as the database holds them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.utils import timezone

from chat import rows
from chat.models import Conversation, Event, Message

pytestmark = pytest.mark.django_db

# Written by the clock at insert time, so they differ between two inserts by a few microseconds.
_CLOCK = {"created_at", "updated_at"}


def stored(model: type[Model], pk: Any) -> dict[str, Any]:
    """The row as the database holds it (raw column values, before any ORM conversion)."""
    columns = [f.column for f in model._meta.concrete_fields]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(model._meta.db_table)} WHERE id = %s", [pk]
        )
        row = cursor.fetchone()
    assert row is not None, f"{model.__name__} {pk} was not stored"
    return dict(zip(columns, row, strict=True))


def same_row(model: type[Model], ours: Any, orm: Any, *, differ: frozenset[str] = frozenset()) -> None:
    a, b = stored(model, ours), stored(model, orm)
    skip = {"id", *_CLOCK, *differ}
    assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}
    for column in _CLOCK & a.keys():
        assert a[column] is not None and type(a[column]) is type(b[column])


def test_insert_stores_the_row_create_would_store_defaults_json_and_time_included(alice: Any) -> None:
    conversation = Conversation.objects.create(owner=alice, title="orm")
    ours = rows.insert(Conversation, owner=alice, title="orm")
    assert ours.pk != conversation.pk and ours.pk is not None
    same_row(Conversation, ours.pk, conversation.pk)
    # Reads back through the ORM as created: defaults filled, an auto_now_add time set.
    back = Conversation.objects.get(pk=ours.pk)
    assert (back.parked_events, back.pii_mapping, back.last_seq, back.deleted_at) == ([], {}, 0, None)
    assert timezone.now() - back.created_at < timedelta(minutes=1)

    lease = timezone.now() + timedelta(seconds=12)
    values = {
        "conversation": conversation,
        "role": Message.Role.ASSISTANT,
        "status": Message.Status.STREAMING,
        "text": "héllo \u2019 <b>",
        "segments": [{"kind": "released", "text": "a", "start": 0}],
        "usage": None,  # SQL NULL, as the ORM stores a nullable JSON None
        "lease_until": lease,
        "client_msg_id": "m-1",
    }
    orm = Message.objects.create(**values)
    mine = rows.insert(Message, **{**values, "client_msg_id": "m-2"})
    same_row(Message, mine.pk, orm.pk, differ=frozenset({"client_msg_id"}))
    message = Message.objects.get(pk=mine.pk)
    assert message.lease_until == lease and message.usage is None and message.segments == values["segments"]
    assert stored(Message, mine.pk)["usage"] is None


def test_insert_many_stores_what_bulk_create_stores(alice: Any) -> None:
    conversation = Conversation.objects.create(owner=alice)
    payload = {"type": "delta", "seq": 1, "text": "<b>x</b> ünï", "nested": {"n": [1, 2.5, None, True]}}
    Event.objects.bulk_create([Event(conversation=conversation, seq=1, type="delta", payload=payload)])
    rows.insert_many(
        Event,
        [
            {"conversation_id": conversation.pk, "seq": 2, "type": "delta", "payload": payload},
            {"conversation_id": conversation.pk, "seq": 3, "type": "done", "payload": {"type": "done"}},
        ],
    )
    rows.insert_many(Event, [])  # nothing to store: no statement
    events = list(Event.objects.filter(conversation=conversation).order_by("seq"))
    assert [(e.seq, e.type) for e in events] == [(1, "delta"), (2, "delta"), (3, "done")]
    same_row(Event, events[1].pk, events[0].pk, differ=frozenset({"seq"}))
    assert events[1].payload == payload


def test_update_changes_only_matching_rows_and_says_how_many(alice: Any) -> None:
    conversation = Conversation.objects.create(owner=alice)
    a = Message.objects.create(conversation=conversation, role="assistant", status=Message.Status.STREAMING)
    b = Message.objects.create(conversation=conversation, role="assistant", status=Message.Status.STREAMING)
    now = timezone.now()
    change = {"text": "done", "segments": [{"kind": "held"}], "usage": {"completion_tokens": 3}, "status": "held"}
    Message.objects.filter(pk=b.pk).update(**change, lease_until=None, updated_at=now)
    changed = rows.update(
        Message, a.pk, {**change, "lease_until": None, "updated_at": now}, where={"status": Message.Status.STREAMING}
    )
    assert changed == 1
    same_row(Message, a.pk, b.pk)
    assert stored(Message, a.pk)["updated_at"] == stored(Message, b.pk)["updated_at"]
    # The condition no longer holds: nothing changes, and the caller learns it.
    assert rows.update(Message, a.pk, {"text": "late"}, where={"status": Message.Status.STREAMING}) == 0
    assert Message.objects.get(pk=a.pk).text == "done"
    # A foreign key by its attribute name.
    other = Conversation.objects.create(owner=alice)
    assert rows.update(Message, a.pk, {"conversation_id": other.pk}) == 1
    assert Message.objects.get(pk=a.pk).conversation_id == other.pk


def test_update_many_updates_each_row_with_its_own_values(alice: Any) -> None:
    conversation = Conversation.objects.create(owner=alice)
    made = [Message.objects.create(conversation=conversation, role="assistant") for _ in range(3)]
    rows.update_many(
        Message,
        [
            (made[0].pk, {"text": "zero", "tokens_out": 1}),
            (made[1].pk, {"text": "one", "usage": {"total": 2}}),
            (made[2].pk, {"text": "two", "tokens_out": 3}),
        ],
    )
    back = {m.pk: m for m in Message.objects.filter(pk__in=[m.pk for m in made])}
    assert [(back[m.pk].text, back[m.pk].tokens_out, back[m.pk].usage) for m in made] == [
        ("zero", 1, None),
        ("one", None, {"total": 2}),
        ("two", 3, None),
    ]


def test_names_that_are_not_columns_are_refused(alice: Any) -> None:
    conversation = Conversation.objects.create(owner=alice)
    with pytest.raises(ValueError, match="not a column"):
        rows.update(Conversation, conversation.pk, {"messages": []})


def test_update_can_test_a_json_column_against_a_value(alice: Any) -> None:
    """``events.advance`` ends a turn in one statement when nothing was parked meanwhile."""
    empty = Conversation.objects.create(owner=alice)
    parked = Conversation.objects.create(owner=alice, parked_events=[{"type": "review_resolved", "seq": 0}])
    assert rows.update(Conversation, empty.pk, {"last_seq": 5}, where={"parked_events": []}) == 1
    assert rows.update(Conversation, parked.pk, {"last_seq": 5}, where={"parked_events": []}) == 0
    assert [c.last_seq for c in Conversation.objects.filter(pk__in=[empty.pk, parked.pk]).order_by("pk")] == [5, 0]
