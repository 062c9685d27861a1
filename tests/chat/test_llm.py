"""chat.llm against the scripted TGI double: real wire vectors, both APIs, every failure mode.

Nothing here sleeps to wait: tests wait for the server to record what they expect, with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from chat import llm
from chat.llm import (
    BackendError,
    BackendGeneration,
    BackendOverloaded,
    BackendTimeout,
    BackendUnavailable,
    BackendValidation,
    Finish,
    LLMConfig,
    TGIBackend,
    Token,
    render_prompt,
)
from tests.tgi_server import EOS_TEXT, Script, TGIServer

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "tgi"
ROOT = Path(__file__).resolve().parents[2]  # the repository
WIRE = VECTORS / "wire"
SNAPSHOTS = VECTORS / "snapshots"
HISTORY = [{"role": "user", "content": "What is deep learning?"}]
MODES = ["chat", "generate"]


@pytest.fixture
async def server() -> AsyncIterator[TGIServer]:
    async with TGIServer() as srv:
        yield srv


def backend(srv: TGIServer, api: str, **overrides: Any) -> TGIBackend:
    cfg: dict[str, Any] = {
        "base_url": srv.url,
        "api": api,
        "max_new_tokens": 64,
        "system_prompt": "Be brief.",
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "total_timeout": 10.0,
    }
    return TGIBackend(LLMConfig(**{**cfg, **overrides}))


async def run(b: TGIBackend, messages: Sequence[dict[str, str]] = HISTORY) -> tuple[list[Token], Finish]:
    """All tokens and the Finish; asserts the stream ends with exactly one Finish."""
    items = [item async for item in b.stream(messages)]
    assert items, "empty stream"
    assert isinstance(items[-1], Finish)
    assert not any(isinstance(i, Finish) for i in items[:-1])
    tokens = [i for i in items if isinstance(i, Token)]
    return tokens, items[-1]


async def run_until_error(b: TGIBackend) -> tuple[list[Token], BackendError]:
    tokens: list[Token] = []
    with pytest.raises(BackendError) as info:
        async for item in b.stream(HISTORY):
            assert isinstance(item, Token), "no Finish may precede an error"
            tokens.append(item)
    return tokens, info.value


def visible(tokens: list[Token]) -> str:
    return "".join(t.text for t in tokens if not t.special)


# ---- rebuilding streams from TGI's snapshots ------------------------------------------------------


def sse(events: Sequence[object], space: bool = True, done: bool = False) -> bytes:
    prefix = b"data: " if space else b"data:"
    out = b"".join(prefix + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events)
    return out + (prefix + b"[DONE]\n\n" if done else b"")


def generate_events(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """/generate_stream events for a /generate snapshot, as TGI's generate_stream_internal builds them."""
    details, tokens = snapshot["details"], snapshot["details"]["tokens"]
    events: list[dict[str, Any]] = []
    for i, tok in enumerate(tokens, start=1):
        token = {"id": tok["id"], "text": tok["text"], "logprob": tok["logprob"], "special": tok["special"]}
        events.append({"index": i, "token": token, "generated_text": None, "details": None})
    events[-1]["generated_text"] = snapshot["generated_text"]
    events[-1]["details"] = {
        "finish_reason": details["finish_reason"],
        "generated_tokens": details["generated_tokens"],
        "seed": details["seed"],
    }
    return events


def chat_events(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Snapshot chunks as TGI writes them: the client's extra null fields (tool_calls) removed."""
    for chunk in chunks:
        for choice in chunk["choices"]:
            choice["delta"] = {k: v for k, v in choice["delta"].items() if v is not None}
    return chunks


GENERATE_SNAPSHOTS = [
    "test_flash_llama/test_flash_llama_simple.json",
    "test_flash_llama/test_flash_llama_all_params.json",
    "test_mt0_base/test_mt0_base.json",
    "test_flash_gemma3/test_exceed_window.json",
]
CHAT_SNAPSHOTS = [
    "test_completion_prompts/test_chat_hfhub_usage.json",
    "test_completion_prompts/test_chat_hfhub_nousage.json",
    "test_completion_prompts/test_flash_llama_completion_stream_usage.json",
]


# ---- real bytes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
@pytest.mark.parametrize(
    "name",
    [
        "TestTextGenerationClientVCR.test_generate_stream_with_details.body.sse",
        "TestTextGenerationClientVCR.test_generate_stream_no_details.body.sse",  # no "index": pre-1.4
    ],
)
async def test_generate_wire_vectors(server: TGIServer, name: str, chunk_size: int | None) -> None:
    # Captured from TGI < 2.1: "data:{" without the space, final event with generated_text "".
    server.push(Script.replay(WIRE / name, chunk_size))
    tokens, finish = await run(backend(server, "generate"))
    assert tokens == [Token(" ", special=False, logprob=-2.0078125)]
    assert finish == Finish("length", 1, None)


@pytest.mark.parametrize("chunk_size", [None, 3])
async def test_chat_wire_vector_tgi_1_4(server: TGIServer, chunk_size: int | None) -> None:
    # TGI 1.4.3: "data:{", object "text_completion", no [DONE], final chunk with an empty delta.
    server.push(Script.replay(WIRE / "InferenceClientVCRTest.test_chat_completion_with_stream.body.sse", chunk_size))
    tokens, finish = await run(backend(server, "chat"))
    assert visible(tokens) == (
        "Deep learning is a subfield of machine learning that is based on artificial neural networks"
        " with multiple layers to"
    )
    assert finish == Finish("length", None, None)


@pytest.mark.parametrize("api", MODES)
async def test_wire_422_json_validation_error(server: TGIServer, api: str) -> None:
    body = (WIRE / "TestTextGenerationClientVCR.test_generate_validation_error.body.json").read_bytes()
    server.push(Script(status=422, body=body, content_type="application/json"))
    tokens, exc = await run_until_error(backend(server, api))
    assert tokens == []
    assert type(exc) is BackendValidation and exc.code == "backend_error"
    assert "must be <= 1512" in exc.detail


@pytest.mark.parametrize("api", MODES)
async def test_wire_422_text_plain(server: TGIServer, api: str) -> None:
    body = (WIRE / "InferenceClientVCRTest.test_chat_completion_unprocessable_entity.body.txt").read_bytes()
    server.push(Script(status=422, body=body, content_type="text/plain; charset=utf-8"))
    _, exc = await run_until_error(backend(server, api))
    assert type(exc) is BackendValidation
    assert "Failed to deserialize" in exc.detail
    assert "Failed" not in str(exc)  # users get a plain message, not the server's internals


@pytest.mark.parametrize("space", [True, False])
@pytest.mark.parametrize("name", GENERATE_SNAPSHOTS)
async def test_generate_snapshots(server: TGIServer, name: str, space: bool) -> None:
    snapshot = json.loads((SNAPSHOTS / name).read_text())
    server.push(Script(raw=sse(generate_events(snapshot), space=space)))
    tokens, finish = await run(backend(server, "generate"))
    expected = snapshot["details"]["tokens"]
    assert [(t.text, t.special, t.logprob) for t in tokens] == [
        (t["text"], t["special"], t["logprob"]) for t in expected
    ]
    # What the user sees is TGI's generated_text (special tokens left out; all_params was recorded
    # with return_full_text, so its prompt "Test request" comes first; mt0 decodes without the space).
    assert visible(tokens).strip() == snapshot["generated_text"].removeprefix("Test request").strip()
    raw_reason = snapshot["details"]["finish_reason"]
    assert finish.reason == {"eos_token": "stop"}.get(raw_reason, raw_reason)
    assert finish.generated_tokens == snapshot["details"]["generated_tokens"]


@pytest.mark.parametrize("space", [True, False])
@pytest.mark.parametrize("name", CHAT_SNAPSHOTS)
async def test_chat_snapshots(server: TGIServer, name: str, space: bool) -> None:
    chunks = chat_events(json.loads((SNAPSHOTS / name).read_text()))
    # "data:[DONE]" without the space is handled too (the library only knows "data: [DONE]").
    server.push(Script(raw=sse(chunks, space=space, done=True)))
    tokens, finish = await run(backend(server, "chat"))
    expected = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert visible(tokens) == expected
    assert all(t.text for t in tokens), "the empty EOS content is never yielded"
    assert finish.reason == next(
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    )
    usage = next((c["usage"] for c in chunks if c["usage"]), None)
    assert finish.usage == usage
    assert finish.generated_tokens == (usage["completion_tokens"] if usage else None)


async def test_chat_rebuilt_from_non_stream_snapshot(server: TGIServer) -> None:
    snapshot = json.loads((SNAPSHOTS / "test_chat_llama/test_flash_llama_simple.json").read_text())
    content = snapshot["choices"][0]["message"]["content"]
    server.push(Script(tokens=re.findall(r"\s*\S+", content), finish_reason="length"))
    tokens, finish = await run(backend(server, "chat", max_new_tokens=500))
    assert visible(tokens) == content
    assert finish.reason == "length"


# ---- framing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", MODES)
@pytest.mark.parametrize("space", [True, False])
async def test_keepalive_comments_while_queued(server: TGIServer, api: str, space: bool) -> None:
    server.push(Script(tokens=["Hello", " there"], keepalives=3, space=space))
    tokens, finish = await run(backend(server, api))
    assert visible(tokens) == "Hello there"
    assert finish.reason == "length"


async def test_chat_without_done(server: TGIServer) -> None:
    server.push(Script(tokens=["Hi", "!"], eos=True, done=False))
    tokens, finish = await run(backend(server, "chat"))
    assert visible(tokens) == "Hi!"
    assert finish == Finish("stop", 3, {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10})


@pytest.mark.parametrize("api", MODES)
async def test_special_eos_is_never_visible(server: TGIServer, api: str) -> None:
    server.push(Script(tokens=["Hi", "!"], eos=True))
    tokens, finish = await run(backend(server, api))
    assert visible(tokens) == "Hi!"
    assert EOS_TEXT not in visible(tokens)
    if api == "generate":
        assert tokens[-1] == Token(EOS_TEXT, special=True, logprob=tokens[-1].logprob)
    else:
        assert all(not t.special and t.text for t in tokens)
    assert finish.reason == "stop"
    assert finish.generated_tokens == 3
    assert finish.usage is not None and finish.usage["completion_tokens"] == 3


@pytest.mark.parametrize("api", MODES)
@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\r", "\r\n"])
async def test_a_token_holding_a_line_separator_is_one_token(server: TGIServer, api: str, separator: str) -> None:
    """TGI's JSON holds U+2028, U+2029 and U+0085 raw; only SSE's own line ends end a line. Read
    as str.splitlines does, a model writing one of them failed the whole reply."""
    server.push(Script(tokens=["a", f"b{separator}c", "d"]))
    tokens, finish = await run(backend(server, api))
    assert visible(tokens) == f"ab{separator}cd"
    assert finish.reason == "length"


async def test_generate_final_event_with_empty_generated_text(server: TGIServer) -> None:
    event = {"index": 1, "token": {"id": 2, "text": "</s>", "logprob": None, "special": True}}
    event |= {"generated_text": "", "details": {"finish_reason": "eos_token", "generated_tokens": 1, "seed": None}}
    server.push(Script(raw=sse([event])))
    tokens, finish = await run(backend(server, "generate"))
    assert visible(tokens) == ""
    assert finish == Finish("stop", 1, None)


# ---- errors ----------------------------------------------------------------------------------------


IN_STREAM_ERRORS = [
    ("overloaded", 0, BackendOverloaded, "backend_overloaded"),
    ("validation", 0, BackendValidation, "backend_error"),
    ("generation", 3, BackendGeneration, "backend_error"),
    ("incomplete_generation_stream", 2, BackendUnavailable, "backend_unavailable"),
]


@pytest.mark.parametrize("api", MODES)
@pytest.mark.parametrize(("kind", "after", "exc_type", "code"), IN_STREAM_ERRORS)
async def test_in_stream_error_events(
    server: TGIServer, api: str, kind: str, after: int, exc_type: type[BackendError], code: str
) -> None:
    # generate: {"error","error_type"}; chat: {"error":{"message","http_status_code":422}} + [DONE].
    server.push(Script(n_tokens=10, error_after=after, error_type=kind))
    tokens, exc = await run_until_error(backend(server, api))
    assert len(tokens) == after
    assert type(exc) is exc_type
    assert exc.code == code
    assert str(exc) == exc_type.default_message


async def test_chat_in_stream_error_in_generate_shape(server: TGIServer) -> None:
    # Servers before 2.4.1 sent the /generate_stream error shape on the chat route.
    event = {"error": "Model is overloaded", "error_type": "overloaded"}
    server.push(Script(raw=sse([event])))
    _, exc = await run_until_error(backend(server, "chat"))
    assert type(exc) is BackendOverloaded


async def test_unknown_error_type_is_a_plain_backend_error(server: TGIServer) -> None:
    server.push(
        Script(raw=sse([{"error": "Stream event serialization error", "error_type": "stream_serialization_error"}]))
    )
    _, exc = await run_until_error(backend(server, "generate"))
    assert type(exc) is BackendError and exc.code == "backend_error"


HTTP_ERRORS = [
    (401, b"", "text/plain", BackendUnavailable),
    (404, b"", "text/plain", BackendUnavailable),
    (413, b"Failed to buffer the request body: length limit exceeded", "text/plain", BackendValidation),
    (422, b'{"error":"Template error: x","error_type":"template_error"}', "application/json", BackendValidation),
    (
        424,
        b'{"error":"Request failed during generation: x","error_type":"generation"}',
        "application/json",
        BackendGeneration,
    ),
    (429, b'{"error":"Model is overloaded","error_type":"overloaded"}', "application/json", BackendOverloaded),
    (500, b"", "text/plain", BackendUnavailable),
    (502, b"<html>Bad Gateway</html>", "text/html", BackendUnavailable),
    (503, b'{"error":"unhealthy","error_type":"healthcheck"}', "application/json", BackendUnavailable),
]


@pytest.mark.parametrize("api", MODES)
@pytest.mark.parametrize(("status", "body", "content_type", "exc_type"), HTTP_ERRORS)
async def test_http_errors(
    server: TGIServer, api: str, status: int, body: bytes, content_type: str, exc_type: type[BackendError]
) -> None:
    server.push(Script(status=status, body=body, content_type=content_type))
    tokens, exc = await run_until_error(backend(server, api))
    assert tokens == []
    assert type(exc) is exc_type
    assert str(exc) == exc_type.default_message


@pytest.mark.parametrize("api", MODES)
async def test_wrong_api_key_is_unavailable(api: str) -> None:
    async with TGIServer(api_key="right") as srv:
        _, exc = await run_until_error(backend(srv, api, api_key="wrong"))
        assert type(exc) is BackendUnavailable and exc.status == 401
        tokens, _ = await run(backend(srv, api, api_key="right"))
        assert tokens
        assert srv.requests[-1].headers["authorization"] == "Bearer right"


@pytest.mark.parametrize("api", MODES)
async def test_no_api_key_sends_no_token(server: TGIServer, api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The library would otherwise send the machine's Hugging Face token to our LLM server.
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_leak")
    await run(backend(server, api))
    assert "authorization" not in server.requests[-1].headers


@pytest.mark.parametrize("api", MODES)
async def test_connection_dropped_mid_stream(server: TGIServer, api: str) -> None:
    server.push(Script(n_tokens=10, drop_after=4))
    tokens, exc = await run_until_error(backend(server, api))
    assert len(tokens) == 4
    assert type(exc) is BackendUnavailable and exc.code == "backend_unavailable"


@pytest.mark.parametrize("api", MODES)
async def test_body_ends_without_final_event(server: TGIServer, api: str) -> None:
    # The library ends such a stream quietly; a reply with no end is not a complete reply.
    server.push(Script(n_tokens=10, eof_after=4))
    tokens, exc = await run_until_error(backend(server, api))
    assert len(tokens) == 4
    assert type(exc) is BackendUnavailable
    assert "broke off" in str(exc)


@pytest.mark.parametrize("api", MODES)
async def test_server_stops_sending_is_a_read_timeout(server: TGIServer, api: str) -> None:
    server.push(Script(n_tokens=10, stall_after=2))
    tokens, exc = await run_until_error(backend(server, api, read_timeout=0.3))
    assert len(tokens) == 2
    assert type(exc) is BackendTimeout and exc.code == "backend_unavailable"
    await server.wait_for(lambda: server.disconnects, timeout=5)


@pytest.mark.parametrize("api", MODES)
async def test_whole_reply_cap(server: TGIServer, api: str) -> None:
    server.push(Script(n_tokens=1000, rate=50))
    tokens, exc = await run_until_error(backend(server, api, total_timeout=0.4, max_new_tokens=1000))
    assert 0 < len(tokens) < 1000
    assert type(exc) is BackendTimeout
    assert "cut off" in str(exc)
    await server.wait_for(lambda: server.disconnects, timeout=5)


@pytest.mark.parametrize("api", MODES)
async def test_whole_reply_cap_cuts_a_stalled_server_before_its_read_timeout(server: TGIServer, api: str) -> None:
    server.push(Script(n_tokens=10, stall_after=2))
    started = asyncio.get_running_loop().time()
    tokens, exc = await run_until_error(backend(server, api, total_timeout=0.3, read_timeout=30.0))
    assert len(tokens) == 2
    assert type(exc) is BackendTimeout and "cut off" in str(exc)
    assert asyncio.get_running_loop().time() - started < 10  # the cap, not the 30 s read timeout
    await server.wait_for(lambda: server.disconnects, timeout=5)


@pytest.mark.parametrize("api", MODES)
async def test_whole_reply_cap_never_interrupts_the_consumer_between_tokens(server: TGIServer, api: str) -> None:
    """A consumer that holds a token past the deadline is not cancelled: its next step ends the
    stream with BackendTimeout, and a stop or shutdown meanwhile still cancels as usual."""
    server.push(Script(n_tokens=100, rate=50))
    stream = backend(server, api, total_timeout=0.3).stream(HISTORY)
    first = await anext(stream)
    assert isinstance(first, Token)
    held = asyncio.Event()
    asyncio.get_running_loop().call_later(0.6, held.set)
    # wait-ok: the consumer holding a token past the deadline is what is tested, not a wait for an event
    await asyncio.wait_for(held.wait(), 5)
    with pytest.raises(BackendTimeout, match="cut off"):
        await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]  # an async generator
    await server.wait_for(lambda: server.disconnects, timeout=5)


@pytest.mark.parametrize("api", MODES)
async def test_a_stop_during_a_step_is_a_cancellation_not_a_timeout(server: TGIServer, api: str) -> None:
    server.push(Script(n_tokens=10, stall_after=1))
    stream = backend(server, api, total_timeout=30.0, read_timeout=30.0).stream(HISTORY)

    async def consume() -> None:
        async for _ in stream:
            pass

    task = asyncio.ensure_future(consume())
    await server.wait_for(lambda: server.generation_requests, timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    await server.wait_for(lambda: server.disconnects, timeout=5)


@pytest.mark.parametrize("api", MODES)
async def test_connect_refused(api: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        b = TGIBackend(LLMConfig(base_url=f"http://127.0.0.1:{port}", api=api))
        _, exc = await run_until_error(b)
    assert type(exc) is BackendUnavailable


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full, so that a new connection's SYN goes unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        f = socket.socket()
        f.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            f.connect(("127.0.0.1", port))
        fillers.append(f)
    try:
        yield port
    finally:
        for f in fillers:
            f.close()
        listener.close()


@pytest.mark.parametrize("api", MODES)
async def test_connect_timeout(api: str, unanswered_port: int) -> None:
    b = TGIBackend(LLMConfig(base_url=f"http://127.0.0.1:{unanswered_port}", api=api, connect_timeout=0.3))
    _, exc = await run_until_error(b)
    assert type(exc) is BackendTimeout


# ---- cancellation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", MODES)
async def test_aclose_closes_the_upstream_connection(server: TGIServer, api: str) -> None:
    server.push(Script(n_tokens=1000, rate=200))
    stream = backend(server, api, max_new_tokens=1000).stream(HISTORY)
    assert isinstance(stream, AsyncGenerator)  # typed AsyncIterator; aclose is what this test is about
    first = await anext(stream)
    assert isinstance(first, Token)
    await stream.aclose()  # what contextlib.aclosing does when a stage stops early
    await server.wait_for(lambda: server.disconnects, timeout=5)
    assert not server.requests[-1].completed


@pytest.mark.parametrize("api", MODES)
async def test_task_cancellation_closes_the_upstream_connection(server: TGIServer, api: str) -> None:
    server.push(Script(n_tokens=5, stall_after=1))  # the task waits for a token that never comes
    got_one = asyncio.Event()

    async def consume() -> None:
        async for _ in backend(server, api).stream(HISTORY):
            got_one.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_one.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await server.wait_for(lambda: server.disconnects, timeout=5)


@pytest.mark.parametrize("api", MODES)
async def test_cancel_while_queued(server: TGIServer, api: str) -> None:
    server.push(Script(keepalives=1, stall_after=0))
    stream = backend(server, api).stream(HISTORY)
    assert isinstance(stream, AsyncGenerator)  # so anext gives a coroutine create_task takes
    task = asyncio.create_task(anext(stream))
    await server.wait_for(lambda: server.requests, timeout=5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await server.wait_for(lambda: server.disconnects, timeout=5)


# ---- requests ---------------------------------------------------------------------------------------


async def test_generate_request_body(server: TGIServer) -> None:
    history = [
        {"role": "user", "content": "Hi {there}"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
    ]
    await run(backend(server, "generate", max_new_tokens=12), history)
    req = server.requests[-1]
    assert req.path == "/"
    assert req.json["stream"] is True
    assert req.json["parameters"] == {
        "details": True,
        "do_sample": False,
        "max_new_tokens": 12,
        "return_full_text": False,
    }
    assert req.json["inputs"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi {there}<|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n"
        "<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


async def test_generate_sampling_request(server: TGIServer) -> None:
    await run(backend(server, "generate", temperature=0.7))
    params = server.requests[-1].json["parameters"]
    assert params["do_sample"] is True and params["temperature"] == pytest.approx(0.7)


@pytest.mark.parametrize(("temperature", "sent"), [(None, 0.0), (0.5, 0.5)])
async def test_chat_request_body(server: TGIServer, temperature: float | None, sent: float) -> None:
    await run(backend(server, "chat", temperature=temperature, model="tgi", max_new_tokens=9))
    req = server.requests[-1]
    assert req.path == "/v1/chat/completions"
    body = req.json
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, *HISTORY]
    assert body["model"] == "tgi"
    assert body["max_tokens"] == 9
    assert body["temperature"] == sent  # absent, TGI samples; 0 is greedy
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_no_system_prompt(server: TGIServer) -> None:
    await run(backend(server, "chat", system_prompt=""))
    assert server.requests[-1].json["messages"] == HISTORY


def test_render_prompt_templates() -> None:
    msgs = [{"role": "user", "content": "Hi"}]
    assert render_prompt("chatml", "", msgs) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert render_prompt("[{role}] {content}\n", "S", msgs) == "[system] S\n[user] Hi\n[assistant] "
    with pytest.raises(ValueError, match="unknown prompt template"):
        LLMConfig(base_url="http://x", prompt_template="nonsense")
    with pytest.raises(ValueError, match="LLM_API"):
        LLMConfig(base_url="http://x", api="completions")


# ---- the test double's own entry points -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("please [[echo]] say hello world", "please say hello world"),
        ("[[tokens:3]]", "Deep learning is"),
    ],
)
async def test_server_markers(server: TGIServer, text: str, expect: str) -> None:
    tokens, _ = await run(backend(server, "chat"), [{"role": "user", "content": text}])
    assert visible(tokens) == expect


async def test_server_error_marker(server: TGIServer) -> None:
    b = backend(server, "generate")
    with pytest.raises(BackendOverloaded):
        await run(b, [{"role": "user", "content": "x [[error:overloaded]]"}])
    with pytest.raises(BackendGeneration):
        await run(b, [{"role": "user", "content": "x [[error:generation:2]]"}])
    with pytest.raises(BackendUnavailable):
        await run(b, [{"role": "user", "content": "x [[drop:2]]"}])


def test_server_in_thread_and_sync_wait() -> None:
    srv = TGIServer(default=Script(n_tokens=3)).start_in_thread()
    try:
        tokens, _ = asyncio.run(run(backend(srv, "generate")))
        assert visible(tokens) == "Deep learning is"
        srv.wait_for_sync(lambda: srv.requests and srv.requests[-1].completed, timeout=5)
    finally:
        srv.stop_thread()


async def test_server_as_subprocess() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.tgi_server", "--port", "0", "--rate", "0", "--tokens", "4", "--eos",
        cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        b = TGIBackend(LLMConfig(base_url=url, api="chat"))
        tokens, finish = await run(b)
        assert visible(tokens) == "Deep learning is a"
        assert finish.reason == "stop"
    finally:
        proc.terminate()
        await proc.wait()


# ---- settings ------------------------------------------------------------------------------------------


def test_from_settings() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.test import override_settings

    django.setup()
    values = {
        "LLM_BASE_URL": "http://tgi:80",
        "LLM_API": "generate",
        "LLM_MODEL": "tgi",
        "LLM_API_KEY": "k",
        "LLM_MAX_NEW_TOKENS": 77,
        "LLM_SYSTEM_PROMPT": "Be kind.",
        "LLM_PROMPT_TEMPLATE": "llama3",
        "LLM_TEMPERATURE": None,
        "LLM_CONNECT_TIMEOUT": 5.0,
        "LLM_READ_TIMEOUT": 20.0,
        "LLM_TOTAL_TIMEOUT": 300.0,
    }
    with override_settings(**values):
        cfg = LLMConfig.from_settings()
        backend_ = llm.get_backend()
    assert cfg == LLMConfig(
        base_url="http://tgi:80",
        api="generate",
        model="tgi",
        api_key="k",
        max_new_tokens=77,
        system_prompt="Be kind.",
        prompt_template="llama3",
        temperature=None,
        connect_timeout=5.0,
        read_timeout=20.0,
        total_timeout=300.0,
    )
    assert isinstance(backend_, TGIBackend) and backend_.config == cfg


async def test_the_librarys_own_chat_stream_still_yields_its_chunks(server: TGIServer) -> None:
    # TGIBackend reads chat streams in its own loop by changing what the library's
    # chat_completion(stream=True) returns; any other caller in the process still gets chunks
    # whose fields read as attributes, and the stream ends at [DONE].
    from huggingface_hub import AsyncInferenceClient

    backend(server, "chat")  # the change is made when a backend is built
    server.push(Script(tokens=["Hel", "lo", "!"], eos=True))
    async with AsyncInferenceClient(base_url=server.url, headers={"authorization": None}) as client:  # type: ignore[dict-item]  # None drops it
        stream = await client.chat_completion(HISTORY, stream=True, max_tokens=8)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "eos_token")
