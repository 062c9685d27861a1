"""A scripted text-generation-inference (TGI) test double that speaks the real wire format.

It is a small HTTP/1.1 server on stdlib asyncio (one request per connection, ``Connection:
close``), fast enough for a benchmark with hundreds of concurrent streams. It serves:

* ``POST /generate_stream`` and ``POST /`` (the compat route; ``"stream": true`` streams,
  ``"stream": false`` answers TGI's JSON array) -- TGI's native SSE events, no ``[DONE]``;
* ``POST /v1/chat/completions`` -- Messages API chunks, an optional usage chunk, ``data: [DONE]``;
* ``GET /health`` (200 empty, or 503 ``{"error":"unhealthy","error_type":"healthcheck"}`` when
  ``server.healthy`` is false) and ``GET /info``.

Bytes follow ../shared/vectors/tgi/PROTOCOL.md: ``data: <compact JSON>\\n\\n`` (``data:`` without
the space for old servers, ``Script.space=False``), keep-alive comments ``:\\n\\n``, chunked
transfer encoding, in-stream errors after HTTP 200, 401 with an empty body when ``api_key`` is set.

What each reply looks like is decided by a :class:`Script`, chosen per generation request as:
the next script queued with :meth:`TGIServer.push` (FIFO), else a script built from markers in the
last user message (chat) or in the prompt (generate), else ``server.default``.

Markers (for browser and benchmark tests that only reach the server through the app); several may
be combined, e.g. ``[[tokens:40]] [[rate:100]]``:

==========================  ================================================================
``[[echo]]``                stream the user's message back (markers removed), word by word
``[[tokens:N]]``            stream N tokens of the default text
``[[rate:R]]``              R tokens per second (0 = as fast as possible)
``[[eos]]``                 end with the special EOS token (``finish_reason`` eos_token/stop)
``[[queue:K]]``             send K keep-alive comments before the first token
``[[error:KIND]]``          in-stream error event before any token; KIND is ``overloaded``,
                            ``validation``, ``generation`` or ``incomplete``
``[[error:KIND:N]]``        the same after N tokens
``[[status:CODE]]``         answer HTTP CODE with TGI's JSON error body (empty for 401)
``[[drop:N]]``              abort the connection after N tokens (no final event, no end chunk)
``[[eof:N]]``               end the body cleanly after N tokens, without a final event
``[[stall:N]]``             send N tokens then nothing, until the client goes away
==========================  ================================================================

In-process (pytest)::

    async with TGIServer() as server:          # in the running loop
        server.push(Script(tokens=["Hi", "!"], error_after=1, error_type="generation"))
        ... server.url, server.requests, server.disconnects ...
        await server.wait_for(lambda: server.disconnects, timeout=5)

    server = TGIServer().start_in_thread()    # own loop in a daemon thread (sync callers)
    ...; server.stop_thread()

As a subprocess (the first line printed is the URL)::

    python -m tests.tgi_server --port 0 --rate 30 --tokens 40 [--eos] [--api-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_TEXT = (
    "Deep learning is a subset of machine learning. It uses neural networks with many layers "
    "to learn from data. Each layer transforms its input a little. Training adjusts the weights "
    "so that the output matches examples. The result can translate text, describe images and "
    "answer questions."
)
DEFAULT_WORDS = tuple(DEFAULT_TEXT.split(" "))
EOS_TEXT = "</s>"

#: Messages as TGI's ``InferError`` formats them (router/src/infer/mod.rs).
ERROR_MESSAGES = {
    "overloaded": "Model is overloaded",
    "validation": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
    "Given: 4000 `inputs` tokens and 200 `max_new_tokens`",
    "generation": "Request failed during generation: Server error: CUDA out of memory",
    "incomplete_generation_stream": "Incomplete generation stream",
}
_ERROR_ALIASES = {"incomplete": "incomplete_generation_stream"}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
#: Default bodies for ``[[status:CODE]]``: what TGI (or the proxy in front of it) answers.
_STATUS_BODIES: dict[int, tuple[bytes, str]] = {
    401: (b"", "text/plain"),
    413: (b"Failed to buffer the request body: length limit exceeded", "text/plain; charset=utf-8"),
    422: (
        json.dumps({"error": ERROR_MESSAGES["validation"], "error_type": "validation"}).encode(),
        "application/json",
    ),
    424: (
        json.dumps({"error": ERROR_MESSAGES["generation"], "error_type": "generation"}).encode(),
        "application/json",
    ),
    429: (
        json.dumps({"error": ERROR_MESSAGES["overloaded"], "error_type": "overloaded"}).encode(),
        "application/json",
    ),
    503: (
        json.dumps({"error": "unhealthy", "error_type": "healthcheck"}).encode(),
        "application/json",
    ),
}
_MARKER = re.compile(r"\[\[([a-z]+)(?::([^\]]*))?\]\]")


@dataclass(frozen=True)
class Script:
    """How the server answers one generation request. Fields combine; ``None`` means "off".

    ``tokens`` are token texts (``None``: ``n_tokens`` words of the default text). The reply is cut
    at the request's ``max_new_tokens``/``max_tokens`` with finish reason ``length``, as TGI does.
    ``raw`` replays a body verbatim (status 200, ``text/event-stream``), split into
    ``raw_chunk_size``-byte writes when set, so line splitting across reads gets exercised.
    """

    tokens: tuple[str, ...] | list[str] | None = None
    n_tokens: int = 20
    rate: float = 0.0  # tokens per second; 0 = as fast as possible
    finish_reason: str = "length"  # TGI's: "length", "eos_token", "stop_sequence"
    eos: bool = False  # append the special EOS token and finish with eos_token
    space: bool = True  # "data: {" (TGI >= 2.1) or "data:{" (older)
    done: bool = True  # chat: send "data: [DONE]" (TGI >= 2.2)
    usage: bool | None = None  # chat usage chunk; None = when stream_options.include_usage
    keepalives: int = 0  # ":" comments before the first token
    keepalive_interval: float = 0.0
    error_after: int | None = None  # in-stream error event after N tokens
    error_type: str = "generation"
    error_message: str | None = None
    status: int | None = None  # plain HTTP answer instead of a stream
    body: bytes | None = None
    content_type: str = "application/json"
    drop_after: int | None = None  # abort the TCP connection after N tokens
    eof_after: int | None = None  # end the body cleanly after N tokens, without a final event
    stall_after: int | None = None  # send N tokens, then nothing until the client leaves
    raw: bytes | None = None
    raw_chunk_size: int | None = None
    echo: bool = False

    @classmethod
    def replay(cls, path: str | Path, chunk_size: int | None = None) -> Script:
        """A script that replays the body file at ``path`` byte for byte."""
        return cls(raw=Path(path).read_bytes(), raw_chunk_size=chunk_size)

    @classmethod
    def from_markers(cls, text: str, base: Script) -> Script | None:
        """The script the ``[[...]]`` markers in ``text`` ask for, on top of ``base``; None if none."""
        found = _MARKER.findall(text)
        if not found:
            return None
        script = base
        for name, arg in found:
            args = arg.split(":") if arg else []
            if name == "echo":
                script = replace(script, echo=True, tokens=None)
            elif name == "tokens":
                script = replace(script, n_tokens=int(args[0]), tokens=None)
            elif name == "rate":
                script = replace(script, rate=float(args[0]))
            elif name == "eos":
                script = replace(script, eos=True)
            elif name == "queue":
                script = replace(script, keepalives=int(args[0]))
            elif name == "error":
                kind = _ERROR_ALIASES.get(args[0], args[0]) if args else "generation"
                after = int(args[1]) if len(args) > 1 else 0
                script = replace(script, error_type=kind, error_after=after)
            elif name == "status":
                script = replace(script, status=int(args[0]))
            elif name == "drop":
                script = replace(script, drop_after=int(args[0]) if args else 0)
            elif name == "eof":
                script = replace(script, eof_after=int(args[0]) if args else 0)
            elif name == "stall":
                script = replace(script, stall_after=int(args[0]) if args else 0)
        return script


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    completed: bool = False  # the whole response was written
    disconnected: bool = False  # the client closed the connection before the response ended


class _Dropped(Exception):
    """The client went away while we were writing or waiting."""


@dataclass
class TGIServer:
    """The test double. ``default`` answers whatever no queued script or marker answers."""

    default: Script = field(default_factory=Script)
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = None
    healthy: bool = True
    model_id: str = "test/tiny-model"
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: deque[Script] = deque()
        self._server: asyncio.Server | None = None
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._cond = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    # ---- public API -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def disconnects(self) -> list[Request]:
        """Requests whose client closed the connection before the response was complete."""
        with self._lock:
            return [r for r in self.requests if r.disconnected]

    @property
    def generation_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def push(self, *scripts: Script) -> None:
        """Queue scripts for the next generation requests, in order."""
        with self._lock:
            self._queue.extend(scripts)

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        """Wait (without polling) until ``predicate()`` is true; TimeoutError after ``timeout``."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not predicate():
                fut: asyncio.Future[None] = loop.create_future()
                with self._lock:
                    self._waiters.append((loop, fut))
                if predicate():  # changed between the check and the registration
                    return
                await fut

    def wait_for_sync(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        """Blocking twin of :meth:`wait_for` for sync callers (server in its own thread)."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(predicate()), timeout):
                raise TimeoutError("condition not met")

    async def start(self) -> TGIServer:
        """Listen in the running loop; ``port=0`` picks a free port (see ``.url``)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TGIServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> TGIServer:
        """Run the server in its own event loop on a daemon thread; returns once it listens."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._thread_loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="tgi-test-server", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop_thread(self) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._thread = self._thread_loop = None

    # ---- plumbing ---------------------------------------------------------------------------

    def _changed(self) -> None:
        with self._cond:
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_resolve, fut)

    def _script_for(self, prompt_text: str) -> Script:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return Script.from_markers(prompt_text, self.default) or self.default

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        req: Request | None = None
        try:
            req = await self._read_request(reader)
            if req is None:
                return
            with self._lock:
                self.requests.append(req)
            self._changed()
            await self._dispatch(req, reader, writer)
            req.completed = True
        except (_Dropped, ConnectionError):
            if req is not None:
                req.disconnected = True
        except asyncio.CancelledError:
            pass
        finally:
            self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()
            self._changed()

    async def _read_request(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        return Request(method, target.split("?", 1)[0], headers, parsed)

    async def _dispatch(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if req.method == "GET" and req.path in ("/health", "/ping"):
            if self.healthy:
                await _plain(writer, 200, b"", "text/plain")
            else:
                await _plain(writer, 503, _STATUS_BODIES[503][0], "application/json")
            return
        if req.method == "GET" and req.path == "/info":
            await _plain(writer, 200, json.dumps(self._info()).encode(), "application/json")
            return
        if req.method != "POST" or req.path not in ("/", "/generate_stream", "/v1/chat/completions"):
            await _plain(writer, 404, b"", "text/plain")
            return
        if self.api_key is not None:
            auth = req.headers.get("authorization", "")
            if auth.lower() != f"bearer {self.api_key}".lower():
                await _plain(writer, 401, b"", "text/plain")
                return
        body = req.json if isinstance(req.json, dict) else {}
        chat = req.path == "/v1/chat/completions"
        script = self._script_for(_prompt_text(body, chat))
        if script.status is not None:
            default_body, default_type = _STATUS_BODIES.get(script.status, (b"", "text/plain"))
            if script.body is not None:
                default_body, default_type = script.body, script.content_type
            await _plain(writer, script.status, default_body, default_type)
            return
        if not chat and req.path == "/" and not body.get("stream"):
            await self._compat_non_stream(writer, body, script)
            return
        await _Stream(writer, reader, script, body, req.path, self.model_id).run()

    async def _compat_non_stream(self, writer: asyncio.StreamWriter, body: dict[str, Any], script: Script) -> None:
        tokens, finish = _plan(script, body, chat=False)
        text = "".join(t for t, special in tokens if not special)
        out = [{"generated_text": text}]
        await _plain(writer, 200, json.dumps(out, separators=(",", ":")).encode(), "application/json")
        del finish

    def _info(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_sha": None,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 128,
            "max_best_of": 2,
            "max_stop_sequences": 4,
            "max_input_tokens": 4095,
            "max_total_tokens": 4096,
            "validation_workers": 2,
            "max_client_batch_size": 4,
            "router": "text-generation-router",
            "version": "3.3.6-dev0",
            "sha": None,
            "docker_label": None,
        }


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _prompt_text(body: dict[str, Any], chat: bool) -> str:
    """The text markers are read from: the last user message (chat) or the whole prompt."""
    if chat:
        for message in reversed(body.get("messages") or []):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return ""
    inputs = body.get("inputs")
    if not isinstance(inputs, str):
        return ""
    # Only the last user turn of a rendered chat prompt counts, so that markers in earlier turns
    # of the history do not trigger again; without role markup the whole prompt counts.
    tail = inputs.rsplit("user\n", 1)[-1]
    return tail


def _plan(script: Script, body: dict[str, Any], chat: bool) -> tuple[list[tuple[str, bool]], str]:
    """The (text, special) tokens to send and TGI's finish reason, cut at the request's limit."""
    if script.echo:
        text = re.sub(r" {2,}", " ", _MARKER.sub("", _prompt_text(body, chat))).strip()
        texts = re.findall(r"\s*\S+", text)  # one token per word, keeping spaces and newlines
    elif script.tokens is not None:
        texts = list(script.tokens)
    else:
        cycle = itertools.cycle(DEFAULT_WORDS)
        texts = [(" " if i else "") + next(cycle) for i in range(script.n_tokens)]
    tokens = [(t, False) for t in texts]
    finish = script.finish_reason
    if script.eos:
        tokens.append((EOS_TEXT, True))
        finish = "eos_token"
    params = body if chat else (body.get("parameters") or {})
    limit = params.get("max_tokens" if chat else "max_new_tokens")
    if isinstance(limit, int) and 0 < limit < len(tokens):
        tokens, finish = tokens[:limit], "length"
    return tokens, finish


async def _plain(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str) -> None:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
        f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()


class _Stream:
    """One SSE response: headers, then events as chunked-encoding chunks."""

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        script: Script,
        body: dict[str, Any],
        path: str,
        model_id: str,
    ) -> None:
        self.writer, self.reader, self.script, self.body = writer, reader, script, body
        self.chat, self.compat = path == "/v1/chat/completions", path == "/"
        self.model_id = model_id
        self.prefix = b"data: " if script.space else b"data:"
        self.created = int(time.time())

    async def run(self) -> None:
        s = self.script
        self.writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"x-accel-buffering: no\r\nx-compute-type: gpu+optimized\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        )
        await self._drain()
        if s.raw is not None:
            step = s.raw_chunk_size or len(s.raw) or 1
            for i in range(0, len(s.raw), step):
                await self._chunk(s.raw[i : i + step])
            await self._end()
            return
        for _ in range(s.keepalives):
            await self._chunk(b":\n\n")
            if s.keepalive_interval:
                await self._sleep(s.keepalive_interval)
        tokens, finish = _plan(s, self.body, self.chat)
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent_text: list[str] = []
        for i, (text, special) in enumerate(tokens):
            if await self._interrupt(i):
                return
            if s.rate > 0:
                delay = start + i / s.rate - loop.time()
                if delay > 0:
                    await self._sleep(delay)
            last = i == len(tokens) - 1
            if not special:
                sent_text.append(text)
            await self._chunk(self._token_event(i, text, special, last, finish, "".join(sent_text)))
        if await self._interrupt(len(tokens), at_end=True):
            return
        if self.chat:
            if not tokens:  # nothing generated: still say how it ended
                await self._chunk(self._event(self._chat_chunk("", finish_reason=_chat_finish(finish))))
            include = (self.body.get("stream_options") or {}).get("include_usage")
            if s.usage if s.usage is not None else include:
                n = len(tokens)
                usage = {"prompt_tokens": 7, "completion_tokens": n, "total_tokens": 7 + n}
                await self._chunk(self._event({**self._chat_base(), "choices": [], "usage": usage}))
            if s.done:
                await self._chunk(self.prefix + b"[DONE]\n\n")
        await self._end()

    async def _interrupt(self, sent: int, at_end: bool = False) -> bool:
        """Apply an injected failure due after ``sent`` tokens; True if the stream is over."""
        s = self.script
        if s.error_after is not None and (s.error_after == sent or (at_end and s.error_after > sent)):
            kind = s.error_type
            message = s.error_message or ERROR_MESSAGES.get(kind, f"Unknown error: {kind}")
            if self.chat:
                await self._chunk(self._event({"error": {"message": message, "http_status_code": 422}}))
                await self._chunk(self.prefix + b"[DONE]\n\n")
            else:
                await self._chunk(self._event({"error": message, "error_type": kind}))
            await self._end()
            return True
        if s.drop_after is not None and (s.drop_after == sent or (at_end and s.drop_after > sent)):
            self.writer.transport.abort()  # no final event, no terminating chunk
            return True
        if s.eof_after is not None and (s.eof_after == sent or (at_end and s.eof_after > sent)):
            await self._end()
            return True
        if s.stall_after is not None and (s.stall_after == sent or (at_end and s.stall_after > sent)):
            await self._until_client_leaves()
        return False

    def _token_event(self, i: int, text: str, special: bool, last: bool, finish: str, generated: str) -> bytes:
        if self.chat:
            # TGI sends a special token (the EOS) as empty content.
            content = "" if special else text
            return self._event(self._chat_chunk(content, _chat_finish(finish) if last else None))
        token = {"id": 1000 + i, "text": text, "logprob": round(-0.5 - (i % 7) / 10, 4), "special": special}
        event: dict[str, Any] = {"index": i + 1, "token": token, "generated_text": None, "details": None}
        if last:
            params = self.body.get("parameters") or {}
            full = params.get("return_full_text")
            # The compat route defaults return_full_text to true for text-generation models.
            if full or (full is None and self.compat):
                generated = str(self.body.get("inputs", "")) + generated
            event["generated_text"] = generated
            if params.get("details"):
                event["details"] = {
                    "finish_reason": finish,
                    "generated_tokens": i + 1,
                    "seed": None,
                    "input_length": 7,
                }
        return self._event(event)

    def _chat_base(self) -> dict[str, Any]:
        return {
            "object": "chat.completion.chunk",
            "id": "",
            "created": self.created,
            "model": self.body.get("model") or self.model_id,
            "system_fingerprint": "3.3.6-dev0-native",
        }

    def _chat_chunk(self, content: str, finish_reason: str | None) -> dict[str, Any]:
        choice = {
            "index": 0,
            "delta": {"role": "assistant", "content": content},
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return {**self._chat_base(), "choices": [choice], "usage": None}

    def _event(self, obj: object) -> bytes:
        return self.prefix + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"

    async def _chunk(self, data: bytes) -> None:
        if self.reader.at_eof():
            raise _Dropped
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self._drain()

    async def _end(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self._drain()

    async def _drain(self) -> None:
        try:
            await self.writer.drain()
        except ConnectionError as exc:
            raise _Dropped from exc
        if self.writer.transport.is_closing():
            raise _Dropped

    async def _sleep(self, delay: float) -> None:
        """Sleep, but notice at once if the client closes the connection meanwhile."""
        try:
            async with asyncio.timeout(delay):
                await self._until_client_leaves()
        except TimeoutError:
            return

    async def _until_client_leaves(self) -> None:
        # The client sends nothing more after its request, so a read returns b"" exactly when
        # it closes the connection (this is how TGI's hyper notices, too).
        while True:
            try:
                data = await self.reader.read(65536)
            except ConnectionError as exc:
                raise _Dropped from exc
            if not data:
                raise _Dropped


def _chat_finish(reason: str) -> str:
    """TGI >= 2.3 formats finish reasons for chat: eos_token -> stop, others unchanged."""
    return "stop" if reason == "eos_token" else reason


def main(argv: list[str] | None = None) -> None:
    """Command line: serve until killed; the first line printed is the base URL."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=30.0, help="tokens per second (0 = no delay)")
    parser.add_argument("--tokens", type=int, default=40, help="tokens per reply")
    parser.add_argument("--eos", action="store_true", help="end replies with the special EOS token")
    parser.add_argument("--api-key", default=None, help="require Authorization: Bearer KEY")
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = TGIServer(
            default=Script(n_tokens=args.tokens, rate=args.rate, eos=args.eos),
            host=args.host,
            port=args.port,
            api_key=args.api_key,
        )
        async with server:
            print(server.url, flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
