"""The LLM backend seam: stream one reply from a TGI (or OpenAI-compatible) server.

Contract of :meth:`Backend.stream`:

* ``messages`` is the chat history ``[{"role": "user"|"assistant", "content": str}, ...]``;
  the backend puts the configured system prompt in front of it.
* It yields :class:`Token` items and ends with exactly one :class:`Finish`; or it raises exactly
  one :class:`BackendError` subclass (after zero or more tokens). ``str(exc)`` is a plain message
  that may be shown to users; ``exc.detail`` holds the upstream text for logs.
* **Special tokens** (an EOS such as ``</s>``) are yielded with ``special=True`` in ``generate``
  mode and must not be shown: consumers display only ``token.text`` of non-special tokens. In
  ``chat`` mode the server sends a special token as empty content, and such deltas are dropped.
* Closing the generator (``aclose()``, ``contextlib.aclosing``) or cancelling the task that
  iterates it closes the HTTP response at once, which is the only way to make TGI stop
  generating and free its slot. Each stream uses its own ``AsyncInferenceClient`` inside
  ``async with``: with huggingface_hub >= 1.0 merely leaving the iteration does not close the
  response (PROTOCOL.md §6.2).

Modes (``LLM_API``):

* ``chat``: ``POST <base_url>/v1/chat/completions`` with ``stream=True``; the server applies the
  model's chat template. Served by TGI >= 1.4, vLLM, SGLang, llama.cpp and Ollama alike.
* ``generate``: TGI's native stream (``POST <base_url>/`` with ``"stream": true``, which TGI
  serves exactly as ``/generate_stream``), with the prompt rendered by :func:`render_prompt`.

Finish reasons are normalized: TGI's ``eos_token`` and OpenAI's ``stop`` become ``"stop"``;
``"length"`` and ``"stop_sequence"`` pass through, and so does anything else a non-TGI server
invents (e.g. ``"tool_calls"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import weakref
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self, TypeVar, cast

import httpx2
from huggingface_hub import AsyncInferenceClient, set_async_client_factory
from huggingface_hub import errors as hf_errors
from huggingface_hub.inference import _common as hf_common
from huggingface_hub.inference._generated import _async_client as hf_async_client
from huggingface_hub.utils._http import default_async_client_factory

from chat import http1

__all__ = [
    "PROMPT_TEMPLATES",
    "Backend",
    "BackendError",
    "BackendGeneration",
    "BackendOverloaded",
    "BackendTimeout",
    "BackendUnavailable",
    "BackendValidation",
    "Finish",
    "LLMConfig",
    "TGIBackend",
    "Token",
    "get_backend",
    "render_prompt",
]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Token:
    """One generated token. ``special`` tokens (EOS and the like) are never shown."""

    text: str
    special: bool = False
    logprob: float | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a reply: ``reason`` is ``"stop"``, ``"length"`` or ``"stop_sequence"``.

    ``usage`` has ``prompt_tokens``, ``completion_tokens`` and ``total_tokens`` when the server
    reported them; ``generated_tokens`` counts the EOS token when there was one.
    """

    reason: str
    generated_tokens: int | None = None
    usage: dict[str, int] | None = None


class BackendError(Exception):
    """The model server could not produce the reply. ``code`` is the protocol error code."""

    code: ClassVar[str] = "backend_error"
    default_message: ClassVar[str] = "The assistant could not answer this time. Please try again."

    def __init__(self, message: str | None = None, *, detail: str = "", status: int | None = None) -> None:
        super().__init__(message or self.default_message)
        self.detail = detail  # what the server or the transport said; for logs, not for users
        self.status = status  # the HTTP status, where there was one


class BackendOverloaded(BackendError):
    code = "backend_overloaded"
    default_message = "The assistant is busy right now. Please try again in a moment."


class BackendValidation(BackendError):
    code = "backend_error"
    default_message = (
        "The model could not accept this conversation (it may be too long). "
        "Try a shorter message or start a new conversation."
    )


class BackendGeneration(BackendError):
    code = "backend_error"
    default_message = "The model failed while writing the reply. Please try again."


class BackendUnavailable(BackendError):
    code = "backend_unavailable"
    default_message = "The assistant is not reachable right now. Please try again later."


class BackendTimeout(BackendError):
    code = "backend_unavailable"
    default_message = "The assistant took too long to answer. Please try again."


#: Prompt formats for ``generate`` mode. A template is one message; ``{role}`` and ``{content}``
#: are replaced (plain string replacement, so braces in messages or templates need no escaping).
PROMPT_TEMPLATES: dict[str, str] = {
    "chatml": "<|im_start|>{role}\n{content}<|im_end|>\n",
    "llama3": "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>",
    "zephyr": "<|{role}|>\n{content}</s>\n",
    "plain": "{role}: {content}\n\n",
}


def render_prompt(template: str, system_prompt: str, messages: Sequence[Mapping[str, str]]) -> str:
    """Render a chat as one prompt for ``generate`` mode.

    ``template`` is a name from :data:`PROMPT_TEMPLATES` (default ``chatml``) or a custom
    per-message template containing ``{role}`` and ``{content}``. Each message (the system prompt
    first, if not empty) is rendered with it, then the template for ``role="assistant"`` up to
    ``{content}`` is appended to open the reply. ChatML example::

        <|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n
    """
    fmt = PROMPT_TEMPLATES.get(template, template)
    if "{content}" not in fmt:
        names = ", ".join(sorted(PROMPT_TEMPLATES))
        raise ValueError(f"unknown prompt template {template!r}: use one of {names}, or a template with {{content}}")

    def one(role: str, content: str) -> str:
        return fmt.replace("{role}", role).replace("{content}", content)

    turns = [{"role": "system", "content": system_prompt}] if system_prompt else []
    parts = [one(m["role"], m["content"]) for m in [*turns, *messages]]
    parts.append(fmt.split("{content}", 1)[0].replace("{role}", "assistant"))
    return "".join(parts)


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask the model. ``temperature=None`` means greedy decoding."""

    base_url: str
    api: str = "chat"  # "chat" | "generate"
    model: str = "tgi"
    api_key: str = ""
    max_new_tokens: int = 512
    system_prompt: str = ""
    prompt_template: str = "chatml"
    temperature: float | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 20.0  # between chunks; TGI sends a keep-alive every 15 s while queued
    total_timeout: float = 300.0  # the whole reply

    def __post_init__(self) -> None:
        if self.api not in ("chat", "generate"):
            raise ValueError(f"LLM_API must be 'chat' or 'generate', not {self.api!r}")
        render_prompt(self.prompt_template, "", [])  # fail at startup, not in the middle of a turn

    @classmethod
    def from_settings(cls) -> LLMConfig:
        """Build the config from ``django.conf.settings.LLM_*``."""
        from django.conf import settings

        return cls(
            base_url=settings.LLM_BASE_URL,
            api=settings.LLM_API,
            model=settings.LLM_MODEL,
            api_key=settings.LLM_API_KEY,
            max_new_tokens=settings.LLM_MAX_NEW_TOKENS,
            system_prompt=settings.LLM_SYSTEM_PROMPT,
            prompt_template=settings.LLM_PROMPT_TEMPLATE,
            temperature=settings.LLM_TEMPERATURE,
            connect_timeout=settings.LLM_CONNECT_TIMEOUT,
            read_timeout=settings.LLM_READ_TIMEOUT,
            total_timeout=settings.LLM_TOTAL_TIMEOUT,
        )


class Backend(Protocol):
    def stream(self, messages: Sequence[Mapping[str, str]]) -> AsyncIterator[Token | Finish]: ...


class TGIBackend:
    """:class:`Backend` on ``huggingface_hub.AsyncInferenceClient``; see the module docstring."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        _share_connections()
        _read_chat_chunks_as_json()

    async def stream(self, messages: Sequence[Mapping[str, str]]) -> AsyncIterator[Token | Finish]:
        deadline = _Deadline(asyncio.get_running_loop().time() + self.config.total_timeout)
        items = self._chat(messages) if self.config.api == "chat" else self._generate(messages)
        try:
            while True:
                try:
                    item = await deadline.step(anext(items))
                except StopAsyncIteration:
                    return
                except BackendError:
                    raise
                except Exception as exc:
                    mapped = _as_backend_error(exc)
                    if mapped is None:  # not a transport or server failure: a bug, let it show
                        raise
                    raise mapped from exc
                yield item
        finally:
            deadline.close()
            await items.aclose()  # closes the client and with it the HTTP response

    def _client(self) -> AsyncInferenceClient:
        cfg = self.config
        timeout = httpx2.Timeout(
            connect=cfg.connect_timeout, read=cfg.read_timeout, write=cfg.read_timeout, pool=cfg.connect_timeout
        )
        return AsyncInferenceClient(
            base_url=cfg.base_url,
            api_key=cfg.api_key or None,
            # Without an API key the library sends the machine's Hugging Face token (HF_TOKEN or
            # the login cache) to our server; a None header value is dropped before sending.
            headers=None if cfg.api_key else {"authorization": None},  # type: ignore[dict-item]  # None drops it
            # The library passes this straight to httpx: per-phase limits, not one total.
            timeout=timeout,  # type: ignore[arg-type]  # typed float, forwarded to httpx as is
        )

    async def _chat(self, messages: Sequence[Mapping[str, str]]) -> AsyncGenerator[Token | Finish]:
        cfg = self.config
        history = [{"role": "system", "content": cfg.system_prompt}] if cfg.system_prompt else []
        history += [{"role": m["role"], "content": m["content"]} for m in messages]
        reason: str | None = None
        usage: dict[str, int] | None = None
        async with self._client() as client:
            chunks = await client.chat_completion(
                history,
                model=cfg.model,
                stream=True,
                max_tokens=cfg.max_new_tokens,
                # TGI samples when temperature is absent; 0 means greedy on TGI, vLLM and llama.cpp.
                temperature=cfg.temperature if cfg.temperature is not None else 0.0,
                stream_options={"include_usage": True},
            )
            # The stream's lines, read here in one loop (see _read_chat_chunks_as_json); closed
            # with the response: before its end, its socket (what tells TGI to stop).
            async with contextlib.aclosing(_ChatStream.lines_of(chunks)) as lines:
                async for line in lines:
                    if not line.startswith("data:"):
                        line = line.strip()  # the library strips every line first
                        if not line.startswith("data:"):
                            continue  # a blank line or an SSE comment (a keep-alive), as the library does
                    payload = line[5:].strip()
                    if payload == "[DONE]":  # also "data:[DONE]", the same end marker per the SSE spec
                        break
                    chunk = json.loads(payload)
                    if chunk.get("error") is not None:
                        raise _library_stream_error(line.strip())
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta")
                        content = delta.get("content") if delta is not None else None
                        if content:  # a special token (EOS) arrives as "" and is not shown
                            yield Token(content)
                        if finish_reason := choice.get("finish_reason"):  # null, or "" on some servers, until the end
                            reason = finish_reason
                    if (counts := chunk.get("usage")) is not None:
                        usage = _usage(counts.get("prompt_tokens"), counts.get("completion_tokens"))
        # The library ends quietly on EOF as well as on [DONE] (old servers send no [DONE]), so a
        # reply is complete only if it said how it finished.
        if reason is None:
            raise BackendUnavailable(
                "The connection to the assistant broke off before the reply was complete. Please try again.",
                detail="chat stream ended without a finish_reason",
            )
        yield Finish(_normalize_reason(reason), usage["completion_tokens"] if usage else None, usage)

    async def _generate(self, messages: Sequence[Mapping[str, str]]) -> AsyncGenerator[Token | Finish]:
        cfg = self.config
        prompt = render_prompt(cfg.prompt_template, cfg.system_prompt, messages)
        sampling = cfg.temperature is not None and cfg.temperature > 0
        finish: Finish | None = None
        async with self._client() as client:
            events = await client.text_generation(
                prompt,
                stream=True,
                details=True,
                # Absent, the compat route defaults to true and prepends the prompt.
                return_full_text=False,
                # Absent, do_sample depends on whether "parameters" exists: always send it.
                do_sample=sampling,
                temperature=cfg.temperature if sampling else None,
                # Absent, TGI >= 3 generates up to the context window.
                max_new_tokens=cfg.max_new_tokens,
            )
            async for event in events:
                token = event.token
                yield Token(token.text, special=bool(token.special), logprob=token.logprob)
                # The final event is the one with generated_text set; it may be "".
                if event.generated_text is not None:
                    details = event.details
                    if details is None:
                        finish = Finish("stop")
                    else:
                        input_length = getattr(details, "input_length", None)  # TGI >= 2.3
                        usage = _usage(input_length, details.generated_tokens) if input_length is not None else None
                        finish = Finish(_normalize_reason(str(details.finish_reason)), details.generated_tokens, usage)
                    break
        # The library ends quietly when the body ends without a final event.
        if finish is None:
            raise BackendUnavailable(
                "The connection to the assistant broke off before the reply was complete. Please try again.",
                detail="generate stream ended without a final event",
            )
        yield finish


def get_backend() -> Backend:
    """The configured backend. Tests replace this one name."""
    return TGIBackend(LLMConfig.from_settings())


# ---- helpers ------------------------------------------------------------------------------------


class _SharedClient(httpx2.AsyncClient):
    """The HTTP client every stream on one event loop uses, kept open between replies.

    Each stream's ``AsyncInferenceClient`` enters and leaves the client it is given; for this
    one that neither opens nor closes anything, so the connections to the LLM server are kept
    alive and reused (no TCP connect and teardown per reply). Each stream's *response* is still
    closed by its own ``AsyncInferenceClient``, and closing a response that was not read to its
    end closes its connection: that is still what makes TGI stop generating.
    """

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedClient] = weakref.WeakKeyDictionary()


@functools.cache
def _share_connections() -> None:
    """Make huggingface_hub's ``AsyncInferenceClient`` use one :class:`_SharedClient` per event loop.

    The library's default factory makes a new httpx client per ``AsyncInferenceClient``: a new
    SSL context (loading the CA bundle: 30-60 ms of CPU on the event loop) and a new connection
    for every reply. This factory keeps the default's settings (event hooks, redirects, no
    client-wide timeout: each request carries the stream's) and shares the client, with no cap
    on connections (every running turn holds one) and up to 100 kept idle, for 4 s: less than
    the idle timeout of the servers it talks to (uvicorn, under llama.cpp's Python server,
    closes after 5 s), so a reply never starts on a connection the server is closing. The
    transport is :class:`chat.http1.LeanTransport`: 0.6x the client CPU per streamed token of
    httpx's own (``bench.http_stream``); it hands proxied URLs to httpx's own, as the client would.
    """
    template = default_async_client_factory()
    hooks, ssl_context = template.event_hooks, httpx2.create_ssl_context()
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=100, keepalive_expiry=4.0)

    def factory() -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        client = _clients.get(loop)
        if client is None or client.is_closed:
            client = _clients[loop] = _SharedClient(
                event_hooks=hooks,
                follow_redirects=True,
                timeout=None,
                transport=http1.LeanTransport(ssl_context=ssl_context, limits=limits),
            )
        return client

    set_async_client_factory(factory)


class _JSONObject(dict[str, Any]):
    """A JSON object whose fields read as attributes; a missing one reads as None (as the
    library's dataclasses default them)."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


class _Lines:
    """What the library's ``_async_yield_from`` returns: the response's lines, stripped, as
    an async iterable; here it also keeps the response, so a chat stream can read its lines
    itself."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self.response.aiter_lines():
            yield line.strip()


class _ChatStream:
    """What ``AsyncInferenceClient.chat_completion(stream=True)`` returns once
    :func:`_read_chat_chunks_as_json` is applied: iterated, the library's chunks (as
    :class:`_JSONObject`); :meth:`lines_of` gives ``TGIBackend._chat`` the lines instead."""

    def __init__(self, lines: AsyncIterable[str]) -> None:
        self._lines = lines

    @staticmethod
    def lines_of(chunks: object) -> AsyncGenerator[str]:
        """The response's lines, unstripped (``_Response.aiter_lines``)."""
        lines = chunks._lines if isinstance(chunks, _ChatStream) else None
        if not isinstance(lines, _Lines):
            raise TypeError(f"not a chat stream read by chat.llm: {type(chunks).__name__}")
        return cast(AsyncGenerator[str], lines.response.aiter_lines())

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for line in self._lines:
            try:
                chunk = _parse_chat_line(line)
            except StopIteration:
                return
            if chunk is not None:
                yield chunk


def _parse_chat_line(line: str) -> Any:
    """The library's ``_format_chat_completion_stream_output`` into :class:`_JSONObject`."""
    if not line.startswith("data:"):
        return None  # a blank line or an SSE comment, as the library does
    payload = line[5:].strip()
    if payload == "[DONE]":
        raise StopIteration("[DONE] signal received.")
    data = json.loads(payload, object_hook=_JSONObject)
    if not isinstance(data, dict) or data.get("error") is not None:
        return _LIBRARY_CHAT_LINE(line)  # the library's errors, exactly
    return data


def _library_stream_error(line: str) -> Exception:
    """The error the library raises for an in-stream error line (``{"error": ...}``)."""
    try:
        _LIBRARY_CHAT_LINE(line)
    except Exception as exc:  # the library's error types (TextGenerationError and kin)
        return exc
    return ValueError(f"an error line the library did not raise for: {line[:200]!r}")


_LIBRARY_CHAT_LINE = hf_common._format_chat_completion_stream_output


def _yield_lines(client: httpx2.AsyncClient, response: httpx2.Response) -> _Lines:
    return _Lines(response)


@functools.cache
def _read_chat_chunks_as_json() -> None:
    """Read chat streams without huggingface_hub's per-token objects and generators.

    The library turns every ``data:`` line of a chat stream into nested dataclasses
    (``ChatCompletionStreamOutput.parse_obj_as_instance``), 15 % of the app's CPU at 100
    streams (``bench.relay --profile``), and passes each line through two generators of its
    own. Here ``chat_completion(stream=True)`` returns a :class:`_ChatStream`, from which
    ``TGIBackend._chat`` reads the response's lines in its own loop: ``json.loads`` into plain
    dicts, the fields read with ``get``. Everything else stays the library's: the request, HTTP
    errors (raised before the stream is returned), and in-stream errors (a line with an
    ``error`` field goes through its own parser, which raises its error types). Iterated as
    the library's result, a :class:`_ChatStream` still yields the chunks, as
    :class:`_JSONObject` whose fields read as attributes. The TGI protocol vectors
    (tests/chat/test_llm.py) run through this path.
    """
    # Names the client module imported from _common: replaced where they are looked up.
    hf_async_client._async_yield_from = _yield_lines  # type: ignore[attr-defined]  # imported, not re-exported
    hf_async_client._async_stream_chat_completion_response = _ChatStream  # type: ignore[attr-defined]  # likewise
    hf_common._format_chat_completion_stream_output = _parse_chat_line  # for any other caller


class _Deadline:
    """The whole-reply time limit over the steps of one stream.

    Applied per step, not around the generator, so it never fires while the consumer holds a
    token between steps: a step started after the deadline raises :class:`BackendTimeout` at
    once, and a step running when it passes is cancelled and raises it. One timer for the whole
    stream, not one per token (``asyncio.timeout`` per step armed and disarmed a timer for
    every token: a few percent of the app's CPU at 100 streams). A cancellation from elsewhere
    (a stop, a shutdown) still propagates as ``CancelledError``.

    Each step asks for the current task with the loop in hand: ``asyncio.current_task()``
    without it looks the running loop up, which on CPython 3.11 makes a ``getpid`` system call
    (fork detection), once a token per stream.
    """

    def __init__(self, when: float) -> None:
        self._task: asyncio.Task[Any] | None = None  # the task running a step, while it runs
        self._expired = False
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    async def step(self, awaitable: Awaitable[_T]) -> _T:
        if self._expired:
            raise self._timeout()
        task = asyncio.current_task(self._loop)
        assert task is not None, "a step runs in a task"
        cancelling = task.cancelling()
        self._task = task
        try:
            return await awaitable
        except asyncio.CancelledError:
            # Ours if the deadline cancelled this step and nothing else asked to cancel too.
            if self._expired and task.uncancel() <= cancelling:
                raise self._timeout() from None
            raise
        finally:
            self._task = None

    def close(self) -> None:
        self._handle.cancel()

    @staticmethod
    def _timeout() -> BackendTimeout:
        return BackendTimeout(
            "The reply took too long and was cut off. Please try again.", detail="whole-reply time limit"
        )


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _normalize_reason(reason: str) -> str:
    return "stop" if reason in ("eos_token", "stop") else reason


#: TGI's InferError messages: the only clue to the kind of a chat in-stream error, which always
#: says 422 (PROTOCOL.md §3), and of an error whose error_type the library does not know.
_MESSAGE_KINDS: tuple[tuple[str, type[BackendError]], ...] = (
    ("Model is overloaded", BackendOverloaded),
    ("Input validation error", BackendValidation),
    ("Request failed during generation", BackendGeneration),
    ("Incomplete generation", BackendUnavailable),
)


def _status_kind(status: int) -> type[BackendError]:
    if status == 429:
        return BackendOverloaded
    if status in (400, 413, 415, 422):
        return BackendValidation
    if status == 424:
        return BackendGeneration
    return BackendUnavailable  # 401/403 (our key), 404 (our URL), 5xx, anything unexpected


def _as_backend_error(exc: Exception) -> BackendError | None:
    """Map what huggingface_hub or httpx raised to exactly one BackendError (None: not theirs)."""
    if isinstance(exc, hf_errors.OverloadedError):
        return BackendOverloaded(detail=str(exc))
    if isinstance(exc, hf_errors.ValidationError):
        return BackendValidation(detail=str(exc))
    if isinstance(exc, hf_errors.GenerationError):
        return BackendGeneration(detail=str(exc))
    if isinstance(exc, hf_errors.IncompleteGenerationError):
        return BackendUnavailable(detail=str(exc))
    if isinstance(exc, hf_errors.TextGenerationError):  # UnknownError and future kinds
        # The library passes chat errors' {"message", "http_status_code"} object as the message.
        raw = exc.args[0] if exc.args else ""
        message = str(raw.get("message", raw)) if isinstance(raw, dict) else str(raw)
        for prefix, kind in _MESSAGE_KINDS:
            if message.startswith(prefix):
                return kind(detail=message)
        cause = exc.__cause__
        status = cause.response.status_code if isinstance(cause, hf_errors.HfHubHTTPError) and cause.response else None
        if status is not None:
            return _status_kind(status)(detail=message, status=status)
        return BackendError(detail=message)
    if isinstance(exc, hf_errors.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        return _status_kind(status)(detail=str(exc), status=status)
    if isinstance(exc, httpx2.ConnectTimeout):
        return BackendTimeout(detail=f"connect timeout: {exc!r}")
    if isinstance(exc, httpx2.ReadTimeout):
        return BackendTimeout(detail=f"no data within the read timeout: {exc!r}")
    if isinstance(exc, hf_errors.InferenceTimeoutError | httpx2.TimeoutException):
        return BackendTimeout(detail=repr(exc.__cause__ or exc))
    if isinstance(exc, httpx2.ConnectError):
        return BackendUnavailable(detail=f"cannot connect: {exc!r}")
    if isinstance(exc, httpx2.TransportError | httpx2.StreamError):
        # e.g. RemoteProtocolError "incomplete chunked read": the connection dropped mid-reply.
        return BackendUnavailable(
            "The connection to the assistant broke off before the reply was complete. Please try again.",
            detail=repr(exc),
        )
    if isinstance(exc, ValueError | TypeError | AttributeError | KeyError):
        # Not valid JSON, or JSON of the wrong shape: a server that does not speak this API.
        return BackendError(detail=f"unexpected response from the model server: {exc!r}")
    return None
