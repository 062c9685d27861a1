"""Protocol v1's optional turn fields (continue_of, regenerate_of, edit_of) and the
``checking`` frame, over the real WebSocket stack."""

from __future__ import annotations

from typing import Any, cast

import pytest

from chat.models import Message
from tests.conftest import wait_turn
from tests.tgi_server import Script

pytestmark = pytest.mark.django_db(transaction=True)


async def first_turn(tgi: Any, client: Any, script: Script, text: str = "Tell me a story") -> list[dict[str, Any]]:
    tgi.push(script)
    await client.send({"type": "user_message", "text": text, "conversation_id": None})
    frames = await client.recv_until("done")
    await wait_turn(frames[0]["message_id"])
    return cast(list[dict[str, Any]], frames)


async def test_regenerate_answers_the_question_again_without_the_old_reply(tgi, alice_key, connect):
    _, client = await connect(key=alice_key)
    first = await first_turn(tgi, client, Script(tokens=["Once."], eos=True))
    cid, old_reply, question = first[0]["conversation_id"], first[0]["message_id"], first[0]["user_message_id"]

    tgi.push(Script(tokens=["Twice."], eos=True))
    await client.send({"type": "user_message", "text": "ignored", "conversation_id": cid, "regenerate_of": old_reply})
    second = await client.recv_until("done")
    started = second[0]
    assert started["type"] == "turn_started" and started["supersedes"] == [question, old_reply]
    assert started["user_text"] == "Tell me a story"  # the stored question, whatever the frame said
    # The model sees the question once, and not the reply it replaces.
    assert tgi.generation_requests[-1].json["messages"][-1] == {"role": "user", "content": "Tell me a story"}
    assert all(m["content"] != "Once." for m in tgi.generation_requests[-1].json["messages"])
    await wait_turn(started["message_id"])
    superseded = {pk async for pk in Message.objects.filter(superseded=True).values_list("pk", flat=True)}
    assert superseded == {question, old_reply}


async def test_only_the_last_reply_can_be_regenerated_and_only_the_last_message_edited(tgi, alice_key, connect):
    _, client = await connect(key=alice_key)
    first = await first_turn(tgi, client, Script(tokens=["One."], eos=True))
    cid = first[0]["conversation_id"]
    tgi.push(Script(tokens=["Two."], eos=True))
    await client.send({"type": "user_message", "text": "again", "conversation_id": cid})
    second = await client.recv_until("done")
    await wait_turn(second[0]["message_id"])

    error = await client.request(
        {"type": "user_message", "text": "x", "conversation_id": cid, "regenerate_of": first[0]["message_id"]}
    )
    assert error["type"] == "error" and error["code"] == "bad_request" and "last reply" in error["detail"]
    error = await client.request(
        {"type": "user_message", "text": "x", "conversation_id": cid, "edit_of": first[0]["user_message_id"]}
    )
    assert error["code"] == "bad_request" and "last message" in error["detail"]
    error = await client.request(
        {"type": "user_message", "text": "x", "conversation_id": cid, "edit_of": 1, "regenerate_of": 2}
    )
    assert error["code"] == "bad_request"


async def test_edit_and_resend_replaces_the_last_exchange(tgi, alice_key, connect):
    _, client = await connect(key=alice_key)
    first = await first_turn(tgi, client, Script(tokens=["Paris."], eos=True), text="Capital of Italy?")
    cid, question, reply = first[0]["conversation_id"], first[0]["user_message_id"], first[0]["message_id"]
    tgi.push(Script(tokens=["Rome."], eos=True))
    await client.send({"type": "user_message", "text": "Capital of Italy, really?", "conversation_id": cid,
                       "edit_of": question})  # fmt: skip
    frames = await client.recv_until("done")
    assert frames[0]["supersedes"] == [question, reply] and frames[0]["user_text"] == "Capital of Italy, really?"
    sent = tgi.generation_requests[-1].json["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"] == ["Capital of Italy, really?"]


async def test_continue_needs_a_cut_off_reply(tgi, alice_key, connect):
    _, client = await connect(key=alice_key)
    cut = await first_turn(tgi, client, Script(tokens=["It", " was", " a"], finish_reason="length"))
    assert cut[-1]["finish_reason"] == "length"
    cid, reply = cut[0]["conversation_id"], cut[0]["message_id"]
    tgi.push(Script(tokens=[" dark", " night."], eos=True))
    await client.send({"type": "user_message", "text": "Continue", "conversation_id": cid, "continue_of": reply})
    frames = await client.recv_until("done")
    assert frames[-1]["status"] == "complete" and "supersedes" not in frames[0]
    # The cut-off reply stays in the history the model continues from.
    sent = tgi.generation_requests[-1].json["messages"]
    assert sent[-2:] == [{"role": "assistant", "content": "It was a"}, {"role": "user", "content": "Continue"}]
    await wait_turn(frames[0]["message_id"])

    error = await client.request(
        {"type": "user_message", "text": "Continue", "conversation_id": cid, "continue_of": frames[0]["message_id"]}
    )
    assert error["code"] == "bad_request" and "cut off" in error["detail"]


async def test_checking_reports_waiting_characters_never_text_and_only_a_few_times(tgi, alice_key, connect):
    _, client = await connect(key=alice_key)
    words = [f" word{i}" for i in range(120)]  # one long sentence: nothing is released until its end
    frames = await first_turn(tgi, client, Script(tokens=[*words, "."], eos=True))
    checking = [f for f in frames if f["type"] == "checking"]
    first_delta = next(i for i, f in enumerate(frames) if f["type"] == "delta")
    assert checking and all(frames.index(f) < first_delta for f in checking)
    assert set(checking[0]) == {"type", "conversation_id", "seq", "message_id", "pending_chars"}
    counts = [f["pending_chars"] for f in checking]
    assert counts == sorted(counts) and counts[0] >= 1 and len(counts) <= 6
