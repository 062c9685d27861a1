"""GUARDRAILS_PII=mask through the real consumer: what the LLM server receives, what the user sees."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat import services
from chat.models import Conversation, Message
from tests.conftest import wait_turn
from tests.tgi_server import Script

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded_library")]

EMAIL = "jane.doe@mail-provider.org"
PHONE = "+44 20 7946 0958"
CARD = "4111 1111 1111 1111"
PERSONAL = (EMAIL, PHONE, CARD, "4111111111111111", "7946 0958")


def shown(frames: list[dict[str, Any]]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def sent_to_llm(tgi: Any) -> list[str]:
    return [json.dumps(request.json) for request in tgi.generation_requests]


@pytest.fixture(autouse=True)
def masking(settings: Any) -> None:
    settings.GUARDRAILS_PII = "mask"


async def test_personal_data_never_reaches_the_llm_and_echoes_are_restored(tgi, alice_key, connect):
    # The model echoes placeholders split across tokens, and invents one that matches nothing.
    tgi.push(
        Script(
            tokens=["I will write to <", "EMA", "IL_1> and call <PHONE", "_1", ">.", " Or <EMAIL_7> instead."],
        )
    )
    _, client = await connect(key=alice_key)
    text = f"My e-mail is {EMAIL}, my phone {PHONE} and my card {CARD}. Please help."
    await client.send({"type": "user_message", "text": text, "conversation_id": None})
    frames = await client.recv_until("done")

    (first,) = sent_to_llm(tgi)
    assert not [value for value in PERSONAL if value in first]
    assert "<EMAIL_1>" in first and "<PHONE_1>" in first and "<CARD_1>" in first
    # Restored after the checks: the user's own phone number is not "invented contact details".
    assert frames[-1]["status"] == "complete"
    assert shown(frames) == f"I will write to {EMAIL} and call {PHONE}. Or <EMAIL_7> instead."
    conversation_id = frames[0]["conversation_id"]
    await wait_turn(frames[0]["message_id"])
    reply = await Message.objects.aget(pk=frames[0]["message_id"])
    assert EMAIL in reply.shown_text and "<EMAIL_7>" in reply.shown_text

    # The next turn sends the history (the user's message and the shown reply) masked alike.
    tgi.push(Script(tokens=["Noted", "."]))
    await client.send({"type": "user_message", "text": f"Also {EMAIL} again.", "conversation_id": conversation_id})
    await client.recv_until("done")
    second = sent_to_llm(tgi)[1]
    assert not [value for value in PERSONAL if value in second]
    messages = tgi.generation_requests[1].json["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == [
        "My e-mail is <EMAIL_1>, my phone <PHONE_1> and my card <CARD_1>. Please help.",
        "Also <EMAIL_1> again.",
    ]
    assert any(m["content"] == "I will write to <EMAIL_1> and call <PHONE_1>. Or <EMAIL_7> instead." for m in messages)

    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.pii_mapping == {"<EMAIL_1>": EMAIL, "<PHONE_1>": PHONE, "<CARD_1>": CARD}


async def test_the_mapping_is_deleted_with_the_conversation(tgi, alice_key, connect):
    tgi.push(Script(tokens=["OK", "."]))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": f"Reach me at {EMAIL}", "conversation_id": None})
    frames = await client.recv_until("done")
    await wait_turn(frames[0]["message_id"])
    conversation = await Conversation.objects.aget(pk=frames[0]["conversation_id"])
    assert conversation.pii_mapping == {"<EMAIL_1>": EMAIL}
    await conversation.adelete()
    assert not await Conversation.objects.filter(pii_mapping__has_key="<EMAIL_1>").aexists()


async def test_off_sends_the_text_as_typed(settings, tgi, alice_key, connect):
    settings.GUARDRAILS_PII = "off"
    tgi.push(Script(tokens=["OK", "."]))
    _, client = await connect(key=alice_key)
    await client.send({"type": "user_message", "text": f"Reach me at {EMAIL}", "conversation_id": None})
    await client.recv_until("done")
    assert EMAIL in sent_to_llm(tgi)[0]


def test_approved_held_text_shows_the_users_values(alice):
    conversation = Conversation.objects.create(owner=alice, pii_mapping={"<EMAIL_1>": EMAIL})
    reply = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.HELD,
        text="Write to <EMAIL_1> or <EMAIL_2>.",
        segments=[{"kind": "held", "segment": 0, "text": "Write to <EMAIL_1> or <EMAIL_2>.", "start": 0}],
    )
    frame = services.reply_resolve(message_id=reply.pk, decision="approved", text="")
    assert frame is not None and frame["text"] == f"Write to {EMAIL} or <EMAIL_2>."
    reply.refresh_from_db()
    assert reply.shown_text == f"Write to {EMAIL} or <EMAIL_2>."
