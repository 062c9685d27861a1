"""guardrails/pii.py: detection, stable placeholders, and restoring what the model echoes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from guardrails import pii
from guardrails.chunking import Chunk
from guardrails.policy import Hold, Release

MAPPING = {"<EMAIL_1>": "jane@mail-provider.org", "<PHONE_1>": "+1 212 555 0199"}


def test_finds_email_phone_luhn_card_iban_and_national_id():
    text = (
        "Mail jane@mail-provider.org, call (212) 555-0199, card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00, NINO AB123456C."
    )
    masked, mapping = pii.mask(text, {})
    assert masked == "Mail <EMAIL_1>, call <PHONE_1>, card <CARD_1>, IBAN <IBAN_1>, NINO <ID_1>."
    assert mapping["<CARD_1>"] == "4111 1111 1111 1111" and mapping["<IBAN_1>"].startswith("DE89")


def test_a_card_number_failing_luhn_and_plain_numbers_are_left_alone():
    text = "Card 4111 1111 1111 1112, order 12345678, ticket 123456789, 3.5 kg."
    assert pii.mask(text, {}) == (text, {})


def test_the_same_value_keeps_its_placeholder_across_calls():
    _, mapping = pii.mask("I am jane@mail-provider.org", {})
    masked, mapping2 = pii.mask("Again jane@mail-provider.org, and bob@mail-provider.org", mapping)
    assert masked == "Again <EMAIL_1>, and <EMAIL_2>"
    assert mapping == {"<EMAIL_1>": "jane@mail-provider.org"}  # the caller's mapping is not changed
    assert mapping2 == {"<EMAIL_1>": "jane@mail-provider.org", "<EMAIL_2>": "bob@mail-provider.org"}


def test_restore_leaves_placeholders_that_match_no_mapping():
    assert pii.restore("<EMAIL_1> or <EMAIL_2> <PHONE_1>", MAPPING) == (
        "jane@mail-provider.org or <EMAIL_2> +1 212 555 0199"
    )


def test_split_partial_waits_only_for_a_possible_placeholder():
    assert pii.split_partial("write to <EMA", MAPPING) == ("write to ", "<EMA")
    assert pii.split_partial("write to <PHONE_", MAPPING) == ("write to ", "<PHONE_")
    assert pii.split_partial("a < b", MAPPING) == ("a < b", "")
    assert pii.split_partial("x <CARD", MAPPING) == ("x <CARD", "")  # no such placeholder
    assert pii.split_partial("write to <EMA", {}) == ("write to <EMA", "")


async def _run(items: list[Any], mapping: dict[str, str]) -> list[Any]:
    async def source() -> AsyncIterator[Any]:
        for item in items:
            yield item

    return [item async for item in pii.restore_released(mapping)(source())]


def _release(text: str, start: int, index: int = 0) -> Release:
    return Release(chunk=Chunk(index=index, text=text, start=start))


async def test_a_placeholder_split_across_released_chunks_is_restored_whole():
    out = await _run([_release("Mail <EM", 0), _release("AIL_1> now.", 8, 1)], MAPPING)
    assert [r.chunk.text for r in out] == ["Mail ", "jane@mail-provider.org now."]
    assert [r.chunk.start for r in out] == [0, 5]  # offsets stay those of the model's text


async def test_a_dangling_partial_is_released_as_is_before_a_hold_and_at_the_end():
    hold = Hold(chunk=Chunk(index=1, text="secret", start=6), segment=0, opens_segment=True, reasons=[])
    out = await _run([_release("Mail <", 0), hold, _release("x <EMAIL", 12, 2)], MAPPING)
    assert [(type(i).__name__, i.chunk.text) for i in out] == [
        ("Release", "Mail "),
        ("Release", "<"),
        ("Hold", "secret"),
        ("Release", "x "),
        ("Release", "<EMAIL"),
    ]
