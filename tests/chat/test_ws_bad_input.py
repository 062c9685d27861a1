"""Bad frames get an error frame and the socket stays usable; refused handshakes; other users."""

from __future__ import annotations

import json

import pytest

from tests.tgi_server import Script

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("raw", "detail_part"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('"text"', "JSON object"),
        ("{}", 'no "type"'),
        ('{"type": "launch_missiles"}', "Unknown frame type"),
        ('{"type": "user_message"}', 'Missing field "text"'),
        ('{"type": "user_message", "text": 42}', '"text" must be a string'),
        ('{"type": "user_message", "text": "   "}', "must not be empty"),
        ('{"type": "user_message", "text": "hi", "conversation_id": "7"}', "must be an integer"),
        ('{"type": "user_message", "text": "hi", "conversation_id": true}', "must be an integer"),
        ('{"type": "user_message", "text": "hi", "conversation_id": -3}', "positive integer"),
        ('{"type": "user_message", "text": "hi", "client_msg_id": ""}', "client_msg_id"),
        ('{"type": "stop"}', 'Missing field "message_id"'),
        ('{"type": "subscribe", "conversation_id": 1, "after_seq": -1}', "0 or more"),
        ("[" * 100_000 + "]" * 100_000, None),  # deeply nested, under 64 KiB? no: too large
    ],
)
async def test_bad_frames_get_bad_request_and_the_socket_stays_usable(alice_key, connect, raw, detail_part):
    _, client = await connect(key=alice_key)
    error = await client.request(raw)
    assert error["type"] == "error"
    if detail_part is None:
        assert error["code"] == "too_large"
    else:
        assert error["code"] == "bad_request" and detail_part in error["detail"]
    assert await client.request({"type": "ping"}) == {"type": "pong"}


async def test_deeply_nested_json_under_the_size_limit_is_a_bad_request(alice_key, connect):
    _, client = await connect(key=alice_key)
    error = await client.request("[" * 30_000 + "]" * 30_000)
    assert error["code"] == "bad_request"
    assert await client.request({"type": "ping"}) == {"type": "pong"}


async def test_frame_over_64_kib_is_too_large_and_nothing_is_started(tgi, alice_key, connect):
    _, client = await connect(key=alice_key)
    frame = json.dumps({"type": "user_message", "text": "x" * (64 * 1024), "conversation_id": None})
    error = await client.request(frame)
    assert error["code"] == "too_large"
    assert tgi.generation_requests == []
    assert await client.request({"type": "ping"}) == {"type": "pong"}


async def test_binary_frames_are_refused(alice_key, connect):
    _, client = await connect(key=alice_key)
    await client.ws.send_to(bytes_data=b"\x00\x01")
    error = await client.recv()
    assert error["code"] == "bad_request"
    assert await client.request({"type": "ping"}) == {"type": "pong"}


async def test_handshake_without_credentials_is_refused(db, connect):
    ok, _ = await connect()
    assert not ok


async def test_handshake_with_unknown_or_revoked_key_is_refused(alice, alice_key, connect):
    from channels.db import database_sync_to_async

    from chat import services

    ok, _ = await connect(key="gsc_nothere_abc")
    assert not ok
    ok, _ = await connect(key="not-even-our-format")
    assert not ok
    ok, client = await connect(key=alice_key)
    assert ok
    await client.close()
    prefix = alice_key.split("_")[1]
    await database_sync_to_async(services.api_key_revoke)(prefix=prefix)
    ok, _ = await connect(key=alice_key)
    assert not ok


async def test_session_cookie_needs_an_allowed_origin(client, alice, connect):
    from channels.db import database_sync_to_async

    await database_sync_to_async(client.force_login)(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    ok, browser = await connect(headers=[(b"cookie", cookie), (b"origin", b"http://localhost:8000")])
    assert ok
    assert await browser.request({"type": "ping"}) == {"type": "pong"}
    ok, _ = await connect(headers=[(b"cookie", cookie), (b"origin", b"https://evil.example")])
    assert not ok, "a foreign page must not ride the user's session"
    ok, _ = await connect(headers=[(b"cookie", cookie)])
    assert not ok, "a session without Origin is refused"


async def test_other_users_conversations_do_not_exist(tgi, alice_key, bob_key, connect):
    tgi.push(Script(tokens=["secret"], rate=0))
    _, alice = await connect(key=alice_key)
    await alice.send({"type": "user_message", "text": "mine", "conversation_id": None})
    frames = await alice.recv_until("done")
    conversation_id, message_id = frames[0]["conversation_id"], frames[0]["message_id"]

    _, bob = await connect(key=bob_key)
    for frame in (
        {"type": "subscribe", "conversation_id": conversation_id, "after_seq": 0},
        {"type": "user_message", "text": "let me in", "conversation_id": conversation_id},
        {"type": "stop", "message_id": message_id},
    ):
        error = await bob.request(frame)
        assert error["type"] == "error" and error["code"] == "not_found", frame
        assert "secret" not in json.dumps(error)
    # Same answer as for an id that never existed: nothing is revealed.
    missing = await bob.request({"type": "subscribe", "conversation_id": 999_999, "after_seq": 0})
    assert {k: v for k, v in missing.items()} == {
        "type": "error",
        "code": "not_found",
        "detail": "No such conversation.",
    }
    await bob.assert_silent()
    assert len(tgi.generation_requests) == 1


async def test_rate_limit(settings, tgi, alice_key, connect):
    settings.CHAT_RATE_LIMIT_PER_MINUTE = 2
    tgi.default = Script(tokens=["k"])
    _, client = await connect(key=alice_key)
    codes = []
    for i in range(3):
        await client.send({"type": "user_message", "text": f"m{i}", "conversation_id": None})
        frame = await client.recv()
        codes.append(frame["type"] if frame["type"] != "error" else frame["code"])
        if frame["type"] == "turn_started":
            await client.recv_until("done")
    assert codes == ["turn_started", "turn_started", "rate_limited"]
