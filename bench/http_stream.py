"""CPU of reading token streams: httpx2's standard transport against chat.http1.LeanTransport.

What runs (loopback only):

* the scripted TGI server (``tests.tgi_server``) in its own process: ``/v1/chat/completions``
  streams of ``--tokens / --streams`` tokens each at ``--rate`` tokens/s, every
  ``data: {...}\\n\\n`` event its own HTTP chunk and its own write, as TGI does, so a paced
  token is one network read at the client. (It closes the connection after each reply, so a
  reply also pays one TCP connect: ~one per 400 tokens with the defaults.)
* this process, the client: ``--streams`` concurrent streams, ``--tokens`` tokens in all, read
  two ways, each with both transports:

  - ``httpx lines``: ``httpx2.AsyncClient.stream(...).aiter_lines()``, counting ``data:`` lines;
  - ``LLM client``: ``chat.llm.TGIBackend.stream`` (chat mode) as the app runs it, through
    huggingface_hub's ``AsyncInferenceClient.chat_completion(stream=True)`` on the shared client.

The figure is this process's CPU time (user + system, ``time.process_time``) over a run, per
1,000 tokens received; the median over ``--rounds`` rounds (the transports alternate within a
round), and lean / standard as a ratio from the same run.

Run::

    .venv/bin/python -m bench.http_stream
    .venv/bin/python -m bench.http_stream --tokens 20000 --streams 50 --rate 40 --rounds 3

Not a test: it prints its figures and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import set_async_client_factory
from huggingface_hub.utils._http import default_async_client_factory

from chat import llm
from chat.http1 import LeanTransport

ROOT = Path(__file__).resolve().parent.parent
LIMITS = httpx2.Limits(max_connections=None, max_keepalive_connections=100, keepalive_expiry=4.0)
TIMEOUT = httpx2.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)

Transport = Callable[[], httpx2.AsyncBaseTransport]
TRANSPORTS: dict[str, Transport] = {
    "standard": lambda: httpx2.AsyncHTTPTransport(verify=httpx2.create_ssl_context(), limits=LIMITS),
    "lean": lambda: LeanTransport(ssl_context=httpx2.create_ssl_context(), limits=LIMITS),
}


@contextlib.contextmanager
def tgi_server(rate: float, tokens: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.tgi_server", "--port", "0", "--rate", str(rate), "--tokens", str(tokens)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def request_body(per_stream: int) -> dict[str, Any]:
    return {
        "model": "tgi",
        "messages": [{"role": "user", "content": "What is deep learning?"}],
        "stream": True,
        "max_tokens": per_stream,
    }


async def httpx_lines(url: str, transport: httpx2.AsyncBaseTransport, streams: int, per_stream: int) -> int:
    async with httpx2.AsyncClient(transport=transport, timeout=TIMEOUT) as client:

        async def one() -> int:
            n = 0
            async with client.stream("POST", url + "/v1/chat/completions", json=request_body(per_stream)) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data:") and not line.endswith("[DONE]"):
                        n += 1
            return n

        return sum(await asyncio.gather(*(one() for _ in range(streams))))


async def llm_client(url: str, transport: httpx2.AsyncBaseTransport, streams: int, per_stream: int) -> int:
    hooks = default_async_client_factory().event_hooks
    shared = llm._SharedClient(event_hooks=hooks, follow_redirects=True, timeout=None, transport=transport)
    set_async_client_factory(lambda: shared)  # what llm._share_connections does, with this transport
    backend = llm.TGIBackend(llm.LLMConfig(base_url=url, api="chat", max_new_tokens=per_stream))

    async def one() -> int:
        return sum(
            [1 async for item in backend.stream([{"role": "user", "content": "Hi"}]) if isinstance(item, llm.Token)]
        )

    try:
        return sum(await asyncio.gather(*(one() for _ in range(streams))))
    finally:
        await httpx2.AsyncClient.aclose(shared)


Reader = Callable[[str, httpx2.AsyncBaseTransport, int, int], Coroutine[Any, Any, int]]
PATHS: dict[str, Reader] = {"httpx lines": httpx_lines, "LLM client": llm_client}


def measure(reader: Reader, url: str, transport: Transport, streams: int, per_stream: int) -> tuple[float, float, int]:
    """(CPU ms per 1,000 tokens, wall s, tokens received) for one run."""
    cpu, wall = time.process_time(), time.perf_counter()
    received = asyncio.run(reader(url, transport(), streams, per_stream))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1e6 / max(received, 1), wall, received


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=20_000, help="tokens per run, all streams together")
    parser.add_argument("--streams", type=int, default=50, help="concurrent streams")
    parser.add_argument("--rate", type=float, default=40.0, help="tokens per second per stream (0 = no pacing)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    per_stream = args.tokens // args.streams
    expected = per_stream * args.streams
    llm._share_connections()  # once, as the app does; llm_client then replaces the factory per run
    print(
        f"{args.streams} streams x {per_stream} tokens at {args.rate:g} tokens/s each, "
        f"{args.rounds} rounds; client CPU ms per 1,000 tokens (median), wall s per run"
    )
    with tgi_server(args.rate, per_stream) as url:
        for path, reader in PATHS.items():
            figures: dict[str, list[tuple[float, float, int]]] = {name: [] for name in TRANSPORTS}
            for _ in range(args.rounds):
                for name, transport in TRANSPORTS.items():
                    figures[name].append(measure(reader, url, transport, args.streams, per_stream))
            cpu = {name: statistics.median(f[0] for f in runs) for name, runs in figures.items()}
            for name, runs in figures.items():
                short = sum(expected - f[2] for f in runs)
                print(
                    f"  {path:<12} {name:<9} {cpu[name]:7.1f} ms/1k tok  "
                    f"(runs: {', '.join(f'{f[0]:.1f}' for f in runs)})  "
                    f"wall {statistics.median(f[1] for f in runs):5.1f} s"
                    + (f"  MISSING {short} tokens" if short else "")
                )
            print(f"  {path:<12} lean / standard = {cpu['lean'] / cpu['standard']:.2f}")


if __name__ == "__main__":
    main()
