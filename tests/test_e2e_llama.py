"""End to end with a real model server: llama.cpp's OpenAI-compatible server on SmolLM2-135M-Instruct.

The same model file and command line as ``make run`` (scripts/smollm2.py), greedy decoding, and
the whole app in between: WebSocket handshake with an API key, consumer, turn, LLM client,
storage. Nothing is faked, so this is what catches a client that only speaks to our scripted
TGI server (tests/tgi_server.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

import pytest

from chat import control
from chat.models import Message
from scripts import smollm2
from tests.servers import free_port

pytestmark = [pytest.mark.llama, pytest.mark.django_db(transaction=True)]

REPLY_TIMEOUT = 60.0  # 32 tokens take well under a second here; generous for slow CI machines
PROMPT = "How do I reset my password?"


class ServerOutput:
    """The server's output, read by a thread as it comes, so a test can wait for a line."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def count(self, text: str) -> int:
        with self._changed:
            return sum(text in line for line in self.lines)

    def wait_for_count(self, text: str, n: int, timeout: float) -> bool:
        """Block until ``text`` has appeared in ``n`` lines; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: sum(text in line for line in self.lines) >= n, timeout)

    def tail(self, n: int = 20) -> str:
        with self._changed:
            return "\n".join(self.lines[-n:])


class LlamaServer:
    def __init__(self, base_url: str, output: ServerOutput) -> None:
        self.base_url = base_url
        self.output = output


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    """One llama.cpp server for the session, on a free port; stopped at the end."""
    model = smollm2.ensure_model()
    port = free_port()
    process = subprocess.Popen(
        smollm2.server_command(model, port=port, threads=2),
        env=smollm2.server_env(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    server = LlamaServer(f"http://127.0.0.1:{port}", ServerOutput(process.stdout))
    try:
        try:
            smollm2.wait_healthy(server.base_url, timeout=120, process=process)
            smollm2.first_reply(server.base_url, process=process)  # as make run: a build that dies says so here
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}; its output:\n{server.output.tail()}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def llama(llama_server: LlamaServer, settings: Any) -> LlamaServer:
    """The app talks to the real server: chat API, greedy, short replies."""
    settings.LLM_BASE_URL = llama_server.base_url
    settings.LLM_API = "chat"
    settings.LLM_TEMPERATURE = None  # greedy: the same reply every run
    settings.LLM_MAX_NEW_TOKENS = 32
    # Released chunks close at this many characters at the latest, so even a reply without
    # punctuation arrives in several pieces.
    settings.GUARDRAILS_CHUNK_MAX_CHARS = 40
    return llama_server


async def _stored(message_id: int) -> Message:
    """The reply as stored once its turn has finished (turns flush after ``done``)."""
    task = control.RUNNING.get(message_id)
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), REPLY_TIMEOUT)
    return await Message.objects.aget(pk=message_id)


def _shown(frames: list[dict[str, Any]]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def _looks_like_english(text: str) -> bool:
    words = re.findall(r"[A-Za-z']+", text)
    letters = sum(c.isascii() and (c.isalpha() or c.isspace() or c in ".,;:!?'-") for c in text)
    return len(words) >= 5 and letters / len(text) > 0.8


async def test_a_real_model_streams_a_reply_that_is_stored_as_shown(llama, alice_key, connect):
    ok, client = await connect(key=alice_key)
    assert ok

    await client.send({"type": "user_message", "text": PROMPT, "conversation_id": None})
    frames = await client.recv_until("done", timeout=REPLY_TIMEOUT)

    assert frames[0]["type"] == "turn_started"
    done = frames[-1]
    assert done["status"] == "complete", done
    assert done["finish_reason"] in {"stop", "length"}
    deltas = [f for f in frames if f["type"] == "delta"]
    assert len(deltas) >= 3, f"expected the reply in several pieces, got {deltas}"
    shown = _shown(frames)
    assert shown.strip() and _looks_like_english(shown), shown

    reply = await _stored(done["message_id"])
    assert reply.status == "complete"
    assert reply.text == shown


async def test_stop_mid_reply_closes_the_upstream_request(llama, alice_key, connect, settings):
    settings.LLM_MAX_NEW_TOKENS = 400  # seconds of generation: the stop surely lands mid-reply
    disconnects_before = llama.output.count("Disconnected from client")
    _, client = await connect(key=alice_key)

    await client.send({"type": "user_message", "text": "Write a long story about a dragon.", "conversation_id": None})
    frames = await client.recv_until("delta", timeout=REPLY_TIMEOUT)
    message_id = frames[0]["message_id"]
    await client.send({"type": "stop", "message_id": message_id})
    frames += await client.recv_until("done", timeout=REPLY_TIMEOUT)

    done = frames[-1]
    assert done["status"] == "stopped", done
    reply = await _stored(message_id)
    assert reply.status == "stopped" and reply.text == _shown(frames)
    # The server noticed the closed connection and stopped generating (it logs exactly this).
    noticed = await asyncio.to_thread(
        llama.output.wait_for_count, "Disconnected from client", disconnects_before + 1, REPLY_TIMEOUT
    )
    assert noticed, f"the llama.cpp server did not see the request closed:\n{llama.output.tail()}"

    # The server is free again and answers the next turn in the same conversation in full.
    settings.LLM_MAX_NEW_TOKENS = 32
    conversation_id = frames[0]["conversation_id"]
    await client.send({"type": "user_message", "text": PROMPT, "conversation_id": conversation_id})
    after = await client.recv_until("done", timeout=REPLY_TIMEOUT)
    assert after[-1]["status"] == "complete", after[-1]
    assert _shown(after).strip()


def test_the_start_check_gets_a_first_reply_from_the_real_server(llama_server: LlamaServer) -> None:
    assert 0 < smollm2.first_reply(llama_server.base_url, timeout=REPLY_TIMEOUT) < REPLY_TIMEOUT


# A server that loads, listens and then dies on its first generation, as a llama.cpp built with
# instructions the CPU will not run does (SIGILL).
_DIES_ON_FIRST_REPLY = """
import os, signal, socket, sys
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
conn.recv(65536)
os.kill(os.getpid(), signal.SIGILL)
"""


def test_make_run_names_a_server_that_dies_on_its_first_reply() -> None:
    process = subprocess.Popen([sys.executable, "-c", _DIES_ON_FIRST_REPLY], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())  # printed once it listens
        with pytest.raises(RuntimeError) as caught:
            smollm2.first_reply(f"http://127.0.0.1:{port}", timeout=REPLY_TIMEOUT, process=process)
    finally:
        process.kill()
        process.wait()
    message = str(caught.value)
    assert "exited with status -4 on its first reply (SIGILL" in message
    assert "pip cache remove llama_cpp_python" in message
