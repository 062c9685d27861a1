"""The embedded channel layer: a group's members each get the message, a full one is skipped."""

from __future__ import annotations

import asyncio

from chat.layers import SweepingInMemoryChannelLayer


async def test_every_member_of_a_group_gets_its_own_copy() -> None:
    layer = SweepingInMemoryChannelLayer()
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("conversation-1", a)
    await layer.group_add("conversation-1", b)
    await layer.group_send("conversation-1", {"type": "chat.frame", "frame": {"seq": 1}})
    got_a = await asyncio.wait_for(layer.receive(a), 5)
    got_b = await asyncio.wait_for(layer.receive(b), 5)
    assert got_a == got_b == {"type": "chat.frame", "frame": {"seq": 1}}
    got_a["frame"]["seq"] = 99  # one socket's handler changing its message changes no other's
    assert got_b["frame"]["seq"] == 1


async def test_a_full_member_is_skipped_and_the_others_still_get_the_message() -> None:
    layer = SweepingInMemoryChannelLayer(capacity=1)
    full, free = await layer.new_channel(), await layer.new_channel()
    await layer.send(full, {"type": "chat.frame", "frame": {"seq": 0}})
    await layer.group_add("conversation-1", full)
    await layer.group_add("conversation-1", free)
    await layer.group_send("conversation-1", {"type": "chat.frame", "frame": {"seq": 1}})
    assert (await asyncio.wait_for(layer.receive(free), 5))["frame"] == {"seq": 1}
    assert (await asyncio.wait_for(layer.receive(full), 5))["frame"] == {"seq": 0}
    await layer.group_send("conversation-1", {"type": "chat.frame", "frame": {"seq": 2}})
    assert (await asyncio.wait_for(layer.receive(full), 5))["frame"] == {"seq": 2}
