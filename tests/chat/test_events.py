"""The event stream without sockets: the pure follower, storage and parking, a turn's batches."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any, cast

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from chat import events, protocol, services, signals
from chat.events import Follower
from chat.models import Conversation, Event, Message
from chat.protocol import EventFrame


def delta(seq: int, conversation_id: int = 1) -> EventFrame:
    return protocol.delta(conversation_id, seq, message_id=7, text=f"t{seq}")


def seqs(frames: list[EventFrame]) -> list[int]:
    return [f["seq"] for f in frames]


# --- Follower (pure) --------------------------------------------------------------------


def test_follower_passes_live_events_in_order_and_drops_repeats() -> None:
    follower = Follower(after_seq=0)
    assert follower.live(delta(1)) == ([delta(1)], False)
    assert follower.live(delta(2)) == ([delta(2)], False)
    assert follower.live(delta(2)) == ([], False)
    assert follower.live(delta(1)) == ([], False)
    assert follower.after_seq == 2 and not follower.ahead and not follower.behind(2)


def test_follower_holds_live_events_ahead_of_a_gap_until_the_gap_is_stored() -> None:
    follower = Follower(after_seq=3)
    assert follower.live(delta(6)) == ([], True)  # 4 and 5 were published before it followed
    assert follower.live(delta(7)) == ([], True)  # contiguous with 6, but still behind the gap
    assert follower.behind(4)
    # The gap is stored only up to 4: send 4, keep waiting.
    assert seqs(follower.stored([delta(4)])) == [4]
    assert follower.ahead and follower.after_seq == 4
    # The next batch stores 5 (and 6, which also came live): each once, in order.
    assert seqs(follower.stored([delta(5), delta(6)])) == [5, 6, 7]
    assert not follower.ahead and follower.after_seq == 7
    assert follower.live(delta(8)) == ([delta(8)], False)


def test_follower_replays_from_a_cursor_and_ignores_what_it_already_sent() -> None:
    follower = Follower(after_seq=2)
    assert seqs(follower.stored([delta(3), delta(4)])) == [3, 4]
    assert follower.live(delta(4)) == ([], False)  # published live after being read from the database
    assert seqs(follower.stored([])) == []


@pytest.mark.parametrize("seed", range(30))
def test_follower_delivers_each_event_once_in_order_whatever_the_timing(seed: int) -> None:
    """A socket that follows mid-stream, with storage lagging publication by random batches."""
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    joined_after = rng.randint(0, n)  # events published before the socket followed
    cursor = rng.randint(0, joined_after)  # what the socket already held (subscribe after_seq)
    follower, sent, stored_upto = Follower(after_seq=cursor), [], 0

    def read_gap() -> None:
        sent.extend(follower.stored([delta(s) for s in range(follower.after_seq + 1, stored_upto + 1)]))

    for seq in range(1, n + 1):
        if seq == joined_after + 1:
            read_gap()  # subscribe: join the group, then replay what is stored so far
        if seq > joined_after:
            out, gap = follower.live(delta(seq))
            sent.extend(out)
            if gap:
                read_gap()
        if rng.random() < 0.3 or seq == n:  # a batch is stored, then announced to the group
            stored_upto = seq
            if seq > joined_after and follower.behind(stored_upto):
                read_gap()
    if joined_after == n:  # followed after the turn ended: everything is stored
        read_gap()
    assert seqs(sent) == list(range(cursor + 1, n + 1))


def test_a_socket_that_followed_after_the_last_live_event_reads_it_once_stored() -> None:
    """Subscribed between the publication of ``done`` and its storage: no live event follows."""
    follower = Follower(after_seq=0)
    assert seqs(follower.stored([delta(1), delta(2)])) == [1, 2]  # 3 was published, not yet stored
    assert follower.behind(3)
    assert seqs(follower.stored([delta(3)])) == [3]
    assert not follower.behind(3)


# --- Storage and parking ----------------------------------------------------------------


@pytest.fixture
def conversation(alice: Any) -> Conversation:
    return Conversation.objects.create(owner=alice, title="t")


def resolved(conversation: Conversation, text: str) -> EventFrame:
    return protocol.review_resolved(conversation.pk, 0, message_id=1, decision="approved", text=text, replaces="held")


@pytest.mark.django_db
def test_an_event_outside_a_turn_is_numbered_stored_and_published_after_commit(
    conversation: Conversation, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[EventFrame] = []

    async def publish(frame: EventFrame) -> None:
        published.append(frame)

    monkeypatch.setattr(events, "publish", publish)
    conversation.last_seq = 4
    conversation.save()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        stored = events.append_or_park(conversation_id=conversation.pk, frame=resolved(conversation, "a"))
    assert stored is not None and stored["type"] == "review_resolved"
    assert stored["seq"] == 5 and stored["text"] == "a"
    assert published == []  # not before commit
    for callback in callbacks:
        callback()
    assert published == [stored]
    assert events.replay(conversation_id=conversation.pk, after_seq=4) == [stored]
    assert events.replay(conversation_id=conversation.pk, after_seq=5) == []


@pytest.mark.django_db
def test_an_event_during_a_turn_is_parked_and_follows_the_turns_last_event(
    conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    assert events.append_or_park(conversation_id=conversation.pk, frame=resolved(conversation, "later")) is None
    assert Event.objects.count() == 0

    # The turn stores a batch, then its last one: the parked event is numbered after it.
    first = [delta(1, conversation.pk), delta(2, conversation.pk)]
    assert services.reply_save(conversation_id=conversation.pk, message_id=reply.pk, frames=first, fields={}) == []
    conversation.refresh_from_db()
    assert conversation.last_seq == 2 and len(conversation.parked_events) == 1
    fields = {"status": "complete"}
    released = services.reply_save(
        conversation_id=conversation.pk, message_id=reply.pk, frames=[delta(3, conversation.pk)], fields=fields,
        final=True,
    )  # fmt: skip
    assert [(f["type"], f["seq"]) for f in released] == [("review_resolved", 4)]
    conversation.refresh_from_db()
    assert conversation.last_seq == 4 and conversation.parked_events == []
    assert seqs(events.replay(conversation_id=conversation.pk, after_seq=0)) == [1, 2, 3, 4]
    assert seqs(events.replay(conversation_id=conversation.pk, after_seq=2)) == [3, 4]


@pytest.mark.django_db
def test_a_dead_turn_gives_the_counter_back(conversation: Conversation) -> None:
    expired = timezone.now() - timedelta(seconds=1)  # its process stopped renewing the lease
    dead = Message.objects.create(conversation=conversation, role="assistant", status="streaming", lease_until=expired)
    events.store(conversation_id=conversation.pk, frames=[delta(1, conversation.pk)])  # stored before it died
    conversation.parked_events = [resolved(conversation, "parked")]
    conversation.save()
    stored = events.append_or_park(conversation_id=conversation.pk, frame=resolved(conversation, "now"))
    assert stored is not None and stored["seq"] == 5
    replayed = events.replay(conversation_id=conversation.pk, after_seq=0)
    assert [(f["type"], f.get("text")) for f in replayed] == [
        ("delta", "t1"),
        ("error", None),  # the dead reply ends for every socket: error + done failed
        ("done", None),
        ("review_resolved", "parked"),
        ("review_resolved", "now"),
    ]
    assert replayed[1]["message_id"] == replayed[2]["message_id"] == dead.pk
    error, done = cast(protocol.ErrorFrame, replayed[1]), cast(protocol.DoneFrame, replayed[2])
    assert done["status"] == "failed" and error["code"] == "internal"
    dead.refresh_from_db()
    assert dead.status == "failed" and "stopped" in dead.error_detail


@pytest.mark.django_db
def test_a_reply_within_its_lease_is_not_dead(conversation: Conversation) -> None:
    alive = Message.objects.create(
        conversation=conversation, role="assistant", status="streaming", lease_until=events.lease_until()
    )
    assert events.append_or_park(conversation_id=conversation.pk, frame=resolved(conversation, "x")) is None
    alive.refresh_from_db()
    assert alive.status == "streaming"


@pytest.mark.django_db
def test_the_final_save_of_a_held_reply_asks_for_review(conversation: Conversation) -> None:
    reply = Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    asked: list[int] = []

    def receiver(sender: Any, *, message_id: int, **kwargs: Any) -> None:
        asked.append(message_id)

    signals.reply_needs_review.connect(receiver)
    try:
        save = {"conversation_id": conversation.pk, "message_id": reply.pk, "frames": [], "fields": {}}
        services.reply_save(**save, final=False, needs_review=True)  # type: ignore[arg-type]
        services.reply_save(**save, final=True, needs_review=False)  # type: ignore[arg-type]
        assert asked == []
        services.reply_save(**save, final=True, needs_review=True)  # type: ignore[arg-type]
        assert asked == [reply.pk]
    finally:
        signals.reply_needs_review.disconnect(receiver)


@pytest.mark.django_db
def test_a_flush_after_the_turn_chose_its_status_does_not_end_the_reply(conversation: Conversation) -> None:
    """The periodic flush can run between a turn's last item and its done: the final save must
    still be stored and still ask for review (seen in CI as a flagged reply left unreviewed)."""
    reply = Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    asked: list[int] = []

    def receiver(sender: Any, *, message_id: int, **kwargs: Any) -> None:
        asked.append(message_id)

    signals.reply_needs_review.connect(receiver)
    try:
        fields = {"status": "complete", "text": "Shown, and flagged."}
        services.reply_save(conversation_id=conversation.pk, message_id=reply.pk, frames=[], fields=fields)
        reply.refresh_from_db()
        assert reply.status == "streaming" and reply.text == "Shown, and flagged."
        ids = {"conversation_id": conversation.pk, "message_id": reply.pk}
        services.reply_save(**ids, frames=[], fields=fields, final=True, needs_review=True)
        reply.refresh_from_db()
        assert reply.status == "complete" and asked == [reply.pk]
    finally:
        signals.reply_needs_review.disconnect(receiver)


# --- A running turn's events (in-memory channel layer, no database) ---------------------


async def receive(layer: Any, channel: str) -> dict[str, Any]:
    return dict(await asyncio.wait_for(layer.receive(channel), 5))


async def test_turn_events_publish_at_once_and_store_in_batches() -> None:
    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    await layer.group_add(events.conversation_group(1), channel)
    batches: list[tuple[list[int], bool]] = []
    fail_next = [True]
    parked = protocol.review_resolved(1, 4, message_id=1, decision="approved", text="x", replaces="held")

    async def save(frames: list[EventFrame], final: bool) -> list[EventFrame]:
        if fail_next.pop() if fail_next else False:
            raise ConnectionError("database down")
        batches.append((seqs(frames), final))
        return [parked] if final else []

    log = events.TurnEvents(conversation_id=1, seq=1, save=save)  # no flusher: stored at close
    await log.emit(delta(log.next_seq()))
    assert (await receive(layer, channel)) == {"type": events.FRAME, "frame": delta(2)}
    with pytest.raises(ConnectionError):
        await log.flush()
    assert seqs(log.pending) == [2]  # kept for the next flush
    await log.emit(delta(log.next_seq()))
    await receive(layer, channel)
    await log.close()
    assert batches == [([2, 3], True)]
    # The parked event the end released is published, then the batch is announced.
    assert (await receive(layer, channel)) == {"type": events.FRAME, "frame": parked}
    assert (await receive(layer, channel)) == {"type": events.STORED, "conversation_id": 1, "seq": 4}


async def test_one_flush_stores_every_running_turns_events_and_keeps_what_failed() -> None:
    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    for conversation_id in (1, 2):
        await layer.group_add(events.conversation_group(conversation_id), channel)
    calls: list[list[tuple[int, list[int], dict[str, Any]]]] = []
    fail_next = [True]

    async def save_many(batches: list[events.Batch]) -> set[int]:
        if fail_next.pop() if fail_next else False:
            raise ConnectionError("database down")
        calls.append([(b.message_id, seqs(b.frames), b.fields) for b in batches])
        return {8}  # reply 8 was ended by another process meanwhile

    async def unused(frames: list[EventFrame], final: bool) -> list[EventFrame]:
        raise AssertionError("only the flusher stores here")

    flusher = events.Flusher(save_many, interval=3600)
    one = events.TurnEvents(conversation_id=1, message_id=7, seq=1, save=unused, fields=lambda: {"text": "a"},
                            flusher=flusher)  # fmt: skip
    two = events.TurnEvents(conversation_id=2, message_id=8, seq=5, save=unused, fields=lambda: {"text": "b"},
                            flusher=flusher)  # fmt: skip
    await one.emit(delta(one.next_seq()))
    await two.emit(delta(two.next_seq(), conversation_id=2))
    with pytest.raises(ConnectionError):
        await flusher.flush()
    assert seqs(one.pending) == [2] and seqs(two.pending) == [6]  # kept for the next flush
    await one.emit(delta(one.next_seq()))
    await flusher.flush()
    # Both turns in one call, everything each had queued, with the reply's state.
    assert sorted(calls[0]) == [(7, [2, 3], {"text": "a"}), (8, [6], {"text": "b"})]
    assert one.pending == [] and two.pending == []  # stored (or dropped: 8 ended elsewhere)
    await flusher.flush()
    assert len(calls) == 1  # nothing new: no database call
    frames = [await receive(layer, channel) for _ in range(4)]
    stored = [m for m in frames if m["type"] == events.STORED]
    assert stored == [{"type": events.STORED, "conversation_id": 1, "seq": 3}]  # not for the dropped reply
    await flusher.stop()


async def test_a_closing_turn_waits_for_the_flush_that_holds_its_events() -> None:
    """The periodic write and the turn's final save never store the same event twice."""
    writing, release = asyncio.Event(), asyncio.Event()
    stored: list[int] = []

    async def save_many(batches: list[events.Batch]) -> set[int]:
        writing.set()
        await release.wait()
        stored.extend(seq for b in batches for seq in seqs(b.frames))
        return set()

    async def save(frames: list[EventFrame], final: bool) -> list[EventFrame]:
        stored.extend(seqs(frames))
        return []

    flusher = events.Flusher(save_many, interval=3600)
    log = events.TurnEvents(conversation_id=1, message_id=7, seq=1, save=save, flusher=flusher)
    await log.emit(delta(log.next_seq()))
    await log.emit(delta(log.next_seq()))
    periodic = asyncio.ensure_future(flusher.flush())
    await asyncio.wait_for(writing.wait(), 5)
    await log.emit(delta(log.next_seq()))  # after the write started: the final save's
    closing = asyncio.ensure_future(log.close())
    await asyncio.sleep(0)  # wait-ok: one loop step, not a timed wait: lets close() start and block
    assert not closing.done()  # waits for the write in flight
    release.set()
    await asyncio.wait_for(asyncio.gather(periodic, closing), 5)
    assert stored == [2, 3, 4]  # each once, in order
    assert flusher.logs == set()
    await flusher.stop()


async def test_the_flusher_runs_only_while_turns_are_registered() -> None:
    saved = asyncio.Event()

    async def save_many(batches: list[events.Batch]) -> set[int]:
        saved.set()
        return set()

    async def save(frames: list[EventFrame], final: bool) -> list[EventFrame]:
        return []

    flusher = events.Flusher(save_many, interval=0.01)
    log = events.TurnEvents(conversation_id=1, message_id=7, seq=1, save=save, flusher=flusher)
    task = flusher._task
    assert task is not None and not task.done()
    await log.emit(delta(log.next_seq()))
    await asyncio.wait_for(saved.wait(), 5)  # stored by the interval, not by the turn
    assert log.pending == []
    await log.close()
    await asyncio.wait_for(task, 5)  # nothing registered: the task ends


@pytest.mark.django_db
def test_replies_save_stores_every_turns_batch_in_one_call(conversation: Conversation) -> None:
    other = Conversation.objects.create(owner=conversation.owner)
    first = Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    second = Message.objects.create(conversation=other, role="assistant", status="streaming")
    ended = Message.objects.create(conversation=other, role="assistant", status="failed")
    batches = [
        events.Batch(conversation.pk, first.pk, [delta(2, conversation.pk)], {"text": "one", "status": "complete"}),
        events.Batch(other.pk, second.pk, [delta(3, other.pk), delta(4, other.pk)], {"text": "two"}),
        events.Batch(other.pk, ended.pk, [delta(9, other.pk)], {"text": "late"}),
    ]
    assert services.replies_save(batches) == {ended.pk}
    assert sorted(Event.objects.values_list("conversation_id", "seq")) == sorted(
        [(conversation.pk, 2), (other.pk, 3), (other.pk, 4)]
    )  # the ended reply's late event is dropped
    first.refresh_from_db()
    second.refresh_from_db()
    ended.refresh_from_db()
    assert (first.text, first.status) == ("one", "streaming")  # only the final save ends a reply
    assert first.lease_until is not None and first.lease_until > timezone.now()
    assert second.text == "two" and ended.text == "" and ended.status == "failed"
