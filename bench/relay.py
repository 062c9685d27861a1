"""Relay overhead: what the app adds to a TGI stream, against reading TGI directly, in one run.

What runs (all on this machine, loopback only):

* a scripted TGI-protocol server (``tests.tgi_server``) streaming ``--tokens`` tokens per reply at
  ``--rate`` tokens/s, wrapped so that every token's text carries the monotonic time at which the
  server wrote it (``" x" + 8 letters``, a base-26 count of microseconds; every
  ``SENTENCE_TOKENS``-th token ends with "." so sentence chunking sees ordinary sentences);
* the real app (``config.asgi:application`` under daphne or uvicorn) with a fresh SQLite
  database, the in-memory channel layer (or channels-redis with ``--layer redis``) and
  ``LLM_BASE_URL`` pointing at the scripted server;
* this process: the load generator. For each N it runs the same N clients twice -- reading the
  scripted server's ``/v1/chat/completions`` stream directly (the baseline), then as WebSocket
  API clients running a full turn each (``user_message`` ... ``delta``* ... ``done``).

Per-token delay is ``arrival at the client - time the scripted server wrote the token``
(``CLOCK_MONOTONIC`` is system-wide, so both ends read the same clock); the app's figure minus
the direct figure is what the app adds. Time to first token is measured from the client's send
(the HTTP request's connect, or the ``user_message`` frame). CPU is the app server process's
utime+stime over the phase, per 1,000 tokens delivered.

Run::

    .venv/bin/python -m bench.relay                         # daphne, in-memory layer, N=1,50,200
    .venv/bin/python -m bench.relay --server uvicorn --layer memory,redis
    .venv/bin/python -m bench.relay --env CHAT_EVENT_FLUSH_MS=1000 --profile

Not a test: it prints its figures and exits 0 (also when the app misbehaves: errors are figures).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

STAMP_LETTERS = 8
STAMP_MOD = 26**STAMP_LETTERS  # microseconds: wraps every ~58 h; differences are taken modulo this
SENTENCE_TOKENS = 12
_STAMP_RE = re.compile(rf"\bx([a-z]{{{STAMP_LETTERS}}})\b")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- token stamps -------------------------------------------------------------------------


def now_us() -> int:
    return time.monotonic_ns() // 1000


def stamp_text(i: int) -> str:
    """Token ``i``'s text: the current monotonic time, as letters (no digits: no pattern sees a number)."""
    n = now_us() % STAMP_MOD
    letters = []
    for _ in range(STAMP_LETTERS):
        n, r = divmod(n, 26)
        letters.append(chr(97 + r))
    end = "." if i % SENTENCE_TOKENS == SENTENCE_TOKENS - 1 else ""
    return " x" + "".join(reversed(letters)) + end


def token_delays_ms(text: str, arrival_us: int) -> list[float]:
    """Delay of every stamped token in ``text`` that arrived at ``arrival_us``."""
    out = []
    for letters in _STAMP_RE.findall(text):
        n = 0
        for ch in letters:
            n = n * 26 + ord(ch) - 97
        d = (arrival_us - n) % STAMP_MOD
        out.append(d / 1000 if d < STAMP_MOD // 2 else -1.0)  # negative: clock confusion, reported
    return out


def tgi_server_main(argv: list[str]) -> None:
    """``python -m bench.relay tgi-server ...``: tests.tgi_server with stamped token texts."""
    from tests import tgi_server

    original = tgi_server._Stream._token_event

    def stamped(self: Any, i: int, text: str, special: bool, last: bool, finish: str, generated: str) -> bytes:
        if not special:
            text = stamp_text(i)
        return original(self, i, text, special, last, finish, generated)

    tgi_server._Stream._token_event = stamped  # type: ignore[method-assign]
    with contextlib.suppress(ImportError):  # the harness, not the app: keep its CPU low
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    tgi_server.main(argv)


def make_keys_main(argv: list[str]) -> None:
    """``python -m bench.relay make-keys N`` (with the app's env): create N users, print their keys."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from chat import services

    user_model = get_user_model()
    keys = []
    with transaction.atomic():
        for i in range(int(argv[0])):
            user = user_model.objects.create_user(username=f"bench{i}")
            keys.append(services.api_key_create(user=user, name="bench")[1])
    print(json.dumps(keys))


# --- measuring --------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and every process below it (uvicorn --workers: the master and its
    worker processes)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            children[int(stat.read_text().rsplit(")", 1)[1].split()[1])].append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += proc_cpu(current)
        todo += children.get(current, [])
    return total


def system_busy() -> float:
    """CPU seconds all processes on the machine have used (all cores)."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = parts[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[k]


@dataclass
class Phase:
    """One phase (direct or app) for one N in one round."""

    ttft: list[float] = field(default_factory=list)  # ms
    delays: list[float] = field(default_factory=list)  # ms, one per token
    newest: list[float] = field(default_factory=list)  # ms, the newest token of each delta frame
    tokens: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    wall: float = 0.0
    cpu_app: float = 0.0
    cpu_tgi: float = 0.0
    cpu_bench: float = 0.0
    cpu_other: float = 0.0  # everything else on the machine: other users' load
    lag: list[float] = field(default_factory=list)  # this process's event-loop lag, ms

    def merge(self, other: Phase) -> None:
        self.ttft += other.ttft
        self.delays += other.delays
        self.newest += other.newest
        self.tokens += other.tokens
        self.errors.update(other.errors)
        self.wall += other.wall
        self.cpu_app += other.cpu_app
        self.cpu_tgi += other.cpu_tgi
        self.cpu_bench += other.cpu_bench
        self.cpu_other += other.cpu_other
        self.lag += other.lag


class Meter:
    """CPU of the processes that matter, and this loop's lag, over a phase."""

    def __init__(self, app_pid: int, tgi_pid: int) -> None:
        self.pids = {"app": app_pid, "tgi": tgi_pid, "bench": os.getpid()}
        self.lag: list[float] = []

    def __enter__(self) -> Meter:
        self.start = {k: self._cpu(k, p) for k, p in self.pids.items()}
        self.busy0, self.t0 = system_busy(), time.monotonic()
        self._lag_task = asyncio.get_running_loop().create_task(self._watch_lag())
        return self

    def __exit__(self, *exc: object) -> None:
        self._lag_task.cancel()
        self.used = {k: self._cpu(k, p) - self.start[k] for k, p in self.pids.items()}
        self.wall = time.monotonic() - self.t0
        self.other = max(0.0, system_busy() - self.busy0 - sum(self.used.values()))

    @staticmethod
    def _cpu(kind: str, pid: int) -> float:
        return tree_cpu(pid) if kind == "app" else proc_cpu(pid)

    async def _watch_lag(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.005)
            self.lag.append((time.monotonic() - t - 0.005) * 1000)

    def fill(self, phase: Phase) -> None:
        phase.wall, phase.lag = self.wall, self.lag
        phase.cpu_app, phase.cpu_tgi, phase.cpu_bench = self.used["app"], self.used["tgi"], self.used["bench"]
        phase.cpu_other = self.other


# --- the two kinds of client ------------------------------------------------------------------


def chat_body(text: str) -> bytes:
    """What chat/llm.py sends in chat mode, near enough for the scripted server."""
    return json.dumps(
        {
            "model": "tgi",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": text},
            ],
            "stream": True,
            "max_tokens": 512,
            "temperature": 0.0,
            "stream_options": {"include_usage": True},
        }
    ).encode()


async def direct_client(port: int, k: int, start_at: float, expected: int, timeout: float, out: Phase) -> None:
    """Read one reply straight from the scripted server (raw HTTP/1.1, chunked SSE)."""
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    body = chat_body(f"Bench question {k}")
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {HOST}:{port}\r\ncontent-type: application/json\r\n"
        f"accept: text/event-stream\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    t0 = now_us()
    got = 0
    failed = True  # until the body ends cleanly; a failure is counted where it happens
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                out.errors[f"http {head.split(b' ', 2)[1].decode()}"] += 1
                return
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    failed = False
                    break
                data = await reader.readexactly(size + 2)
                arrival = now_us()
                for line in data.split(b"\n"):
                    if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
                        continue
                    for choice in json.loads(line[5:]).get("choices") or ():
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            delays = token_delays_ms(content, arrival)
                            if delays and got == 0:
                                out.ttft.append((arrival - t0) / 1000)
                            got += len(delays)
                            out.delays += delays
    except TimeoutError:
        out.errors["timeout"] += 1
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        out.errors[f"direct {type(exc).__name__}"] += 1
    finally:
        out.tokens += got
        if got != expected and not failed:
            out.errors["missing tokens"] += 1
        if writer is not None:
            writer.close()


async def app_client(
    ws: Any, k: int, start_at: float, expected: int, timeout: float, out: Phase, *, client_msg_id: bool = False
) -> None:
    """Run one full turn over an open WebSocket and time every token of the reply.

    With ``client_msg_id`` the message carries a fresh one, as every message of the web UI does
    (the server then first looks for an earlier turn with it: a resend)."""
    from websockets.exceptions import ConnectionClosed

    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    got = 0
    t0 = now_us()
    message: dict[str, Any] = {"type": "user_message", "text": f"Bench question {k}", "conversation_id": None}
    if client_msg_id:
        message["client_msg_id"] = f"bench-{os.getpid()}-{t0}-{k}"
    try:
        async with asyncio.timeout(timeout):
            await ws.send(json.dumps(message))
            while True:
                raw = await ws.recv()
                arrival = now_us()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "delta":
                    delays = token_delays_ms(frame.get("text", ""), arrival)
                    if delays and got == 0:
                        out.ttft.append((arrival - t0) / 1000)
                    got += len(delays)
                    out.delays += delays
                    if delays:
                        out.newest.append(min(delays))
                elif kind == "done":
                    if frame.get("status") != "complete":
                        out.errors[f"done {frame.get('status')}"] += 1
                    break
                elif kind == "error":
                    out.errors[f"error {frame.get('code')}"] += 1
                elif kind == "held":
                    out.errors["held"] += 1
    except TimeoutError:
        out.errors["timeout"] += 1
    except ConnectionClosed:
        out.errors["disconnect"] += 1
    finally:
        out.tokens += got
        if got != expected:
            out.errors["missing tokens"] += 1


async def open_sockets(url: str, keys: Sequence[str], compression: bool, errors: collections.Counter[str]) -> list[Any]:
    from websockets.asyncio.client import connect

    limit = asyncio.Semaphore(16)

    async def one(key: str) -> Any:
        async with limit:
            try:
                return await connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {key}"},
                    compression="deflate" if compression else None,
                    ping_interval=None,
                    open_timeout=30,
                    max_queue=None,
                )
            except Exception as exc:
                errors[f"handshake {type(exc).__name__}"] += 1
                return None

    sockets = await asyncio.gather(*(one(k) for k in keys))
    return [s for s in sockets if s is not None]


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {timeout:.0f}s:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


#: What-if changes to the app, applied in the app's process only (a ``sitecustomize`` module on its
#: PYTHONPATH), so a suggestion can be measured before anyone edits the app. Each is a candidate fix.
PATCHES = {
    # channels-redis' default layer delivers each message with ~4 Redis round trips (EVAL, BZPOPMIN,
    # ZADD, ZPOPMIN) under one receive lock per process; its pub/sub layer publishes once per
    # group_send and pushes to subscribers. Swaps the backend in config.settings (only with REDIS_URL).
    "redis-pubsub": """
import os
import sys

sys.path.insert(0, os.getcwd())
import config.settings as _settings  # noqa: E402

sys.path.pop(0)
if _settings.REDIS_URL:
    _settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": _settings.REDIS_URL, "socket_timeout": None}]},
        }
    }
""",
}


def write_patches(names: Sequence[str], where: Path) -> None:
    unknown = set(names) - set(PATCHES)
    if unknown:
        raise SystemExit(f"unknown --patch {sorted(unknown)}; known: {sorted(PATCHES)}")
    body = "\n".join(f"# --- {name}\n{PATCHES[name]}" for name in names)
    (where / "sitecustomize.py").write_text(body)


@dataclass(frozen=True)
class Config:
    server: str  # daphne | uvicorn
    layer: str  # memory | redis
    env: tuple[tuple[str, str], ...]
    ws_deflate: bool  # uvicorn only (daphne never negotiates permessage-deflate)
    patches: tuple[str, ...] = ()
    workers: int = 1  # uvicorn --workers (WEB_CONCURRENCY); more than 1 needs the Redis layer
    root: Path = ROOT  # the app's code: this checkout, or --against's worktree
    code: str = "now"  # how the tables name that code
    ws: str = "websockets-sansio"  # uvicorn --ws (make run's; "websockets" is uvicorn's older implementation)

    @property
    def name(self) -> str:
        extra = " ".join([*(f"{k}={v}" for k, v in self.env), *(f"patch:{p}" for p in self.patches)])
        deflate = "" if self.server == "daphne" or self.ws_deflate else " no-deflate"
        workers = f" x{self.workers} processes" if self.workers > 1 else ""
        ws = f" --ws {self.ws}" if self.server == "uvicorn" and self.ws != "websockets-sansio" else ""
        return f"{self.server}{ws}{deflate}{workers} + {self.layer} layer" + (f" + {extra}" if extra else "")


class App:
    """The app under test in its own process, with its own database."""

    def __init__(self, cfg: Config, tgi_url: str, workdir: Path, redis_url: str) -> None:
        self.cfg, self.port = cfg, free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="app-", dir=workdir))
        self.log = self.dir / "server.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "CHAT_", "GUARDRAILS_"))}
        self.env.pop("REDIS_URL", None)
        self.env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=f"sqlite:///{self.dir / 'db.sqlite3'}",
            LLM_BASE_URL=tgi_url,
            LLM_API="chat",
            CHAT_RATE_LIMIT_PER_MINUTE="1000000",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        if cfg.layer == "redis":
            self.env["REDIS_URL"] = redis_url
        self.env.update(dict(cfg.env))
        if cfg.patches:
            write_patches(cfg.patches, self.dir)
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.dir), os.environ.get("PYTHONPATH")]))
        self.proc: subprocess.Popen[bytes] | None = None
        self.keys: list[str] = []  # API keys of the bench's users in this app's database

    def prepare(self, n_keys: int) -> list[str]:
        run = {"cwd": self.cfg.root, "env": self.env, "check": True, "capture_output": True}
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], **run)  # type: ignore[call-overload]
        # This file's make_keys_main, run against the app's own code (its checkout is the cwd).
        load_this = (
            "import importlib.util as u, sys; s = u.spec_from_file_location('bench_relay', sys.argv.pop(1)); "
            "m = sys.modules['bench_relay'] = u.module_from_spec(s); s.loader.exec_module(m); "
            "m.make_keys_main(sys.argv[1:])"
        )
        cmd = [sys.executable, "-c", load_this, str(Path(__file__).resolve()), str(n_keys)]
        out = subprocess.run(cmd, **run)  # type: ignore[call-overload]
        return list(json.loads(out.stdout.decode().strip().splitlines()[-1]))

    def start(self) -> None:
        if self.cfg.server == "daphne":
            cmd = [str(BIN / "daphne"), "-b", HOST, "-p", str(self.port), "-v", "0", "config.asgi:application"]
        else:
            cmd = [
                str(BIN / "uvicorn"), "config.asgi:application", "--host", HOST, "--port", str(self.port),
                "--loop", "uvloop", "--http", "httptools", "--ws", self.cfg.ws, "--log-level", "warning",
                "--no-access-log", "--ws-per-message-deflate", str(self.cfg.ws_deflate).lower(),
                "--workers", str(self.cfg.workers),
            ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=self.cfg.root, env=self.env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, self.proc, self.log)

    def server_errors(self) -> int:
        with contextlib.suppress(OSError):
            return sum(1 for line in self.log.read_text(errors="replace").splitlines() if "Traceback" in line)
        return 0

    def stop(self) -> None:
        stop(self.proc)


# --- profiling (--profile) --------------------------------------------------------------------

CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("checks: patterns and normalized views", ("guardrails/checks/patterns", "guardrails/checks/detectors",
                                               "guardrails/normalize", "/regex/")),
    ("checks: toxicity model", ("guardrails/checks/classifiers", "guardrails/checks/batcher",
                                "guardrails/checks/toxicity", "sklearn/", "numpy/", "scipy/", "torch/",
                                "onnxruntime/")),
    ("moderation stages (chunking, checking, policy)", ("guardrails/",)),
    ("JSON encode/decode", ("/json/",)),
    ("ORM + SQLite (turn start, flushes, final save)", ("django/db/", "sqlite3")),
    ("channel layer", ("channels/layers.py", "chat/layers.py", "channels_redis", "redis/")),
    ("thread hand-offs (asgiref, executor)", ("asgiref/", "concurrent/futures", "threading.py")),
    ("TGI client: huggingface_hub", ("huggingface_hub/",)),
    ("TGI client: chat.llm, chat.http1, httpx2", ("chat/llm.py", "chat/http1.py", "httpx2/", "httpcore", "h11/",
                                                   "anyio/", "ssl.py", "certifi")),
    ("turn, consumer, event stream (chat/, channels/)", ("chat/", "channels/")),
    ("WS server: daphne/Twisted/autobahn", ("daphne/", "twisted/", "autobahn/", "txaio/", "zope/")),
    ("WS server: uvicorn/websockets", ("uvicorn/", "websockets/", "httptools")),
    ("asyncio/uvloop scheduling and I/O", ("asyncio/", "uvloop", "selectors.py")),
    ("logging", ("logging/",)),
]  # fmt: skip


def summarize_profile(raw: Path, top: int = 25, cpu_per_1k: float | None = None) -> str:
    """Collapsed py-spy stacks -> share of samples by subsystem (leaf-first) and hottest functions;
    with ``cpu_per_1k`` (the phase's app CPU seconds per 1,000 tokens) also each subsystem's seconds."""
    by_cat: collections.Counter[str] = collections.Counter()
    by_self: collections.Counter[str] = collections.Counter()
    by_incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = stack.split(";")[1:]  # [0] is the process/thread
        total += count
        leaf = frames[-1] if frames else "?"
        by_self[_short(leaf)] += count
        for name in {_short(f) for f in frames}:
            by_incl[name] += count
        for frame in reversed(frames):
            cat = next((c for c, keys in CATEGORIES if any(k in frame for k in keys)), None)
            if cat:
                by_cat[cat] += count
                break
        else:
            by_cat["other"] += count
    if not total:
        return "  (no samples)"
    lines = [f"  {total} samples of busy threads; where the CPU goes (innermost known subsystem):"]
    for name, c in by_cat.most_common():
        seconds = f"  {cpu_per_1k * c / total:.3f} s/1k tok" if cpu_per_1k else ""
        lines.append(f"    {100 * c / total:5.1f}%{seconds}  {name}")
    lines.append("  hottest functions, self time:")
    lines += [f"    {100 * c / total:5.1f}%  {name}" for name, c in by_self.most_common(top)]
    lines.append("  project and channel functions, inclusive time:")
    keep = [
        (n, c)
        for n, c in by_incl.most_common()
        if any(k in n for k in ("chat/", "channels/", "huggingface_hub/", "django/db/", "json/", "asgiref/"))
    ]
    lines += [f"    {100 * c / total:5.1f}%  {name}" for name, c in keep[:top]]
    return "\n".join(lines)


def _short(frame: str) -> str:
    # "func (path/to/site-packages/pkg/mod.py:123)" -> "func (pkg/mod.py)"
    m = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    func, path = m.groups()
    for marker in ("site-packages/", "/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})"


# --- the run ----------------------------------------------------------------------------------


async def run_phase_direct(port: int, n: int, args: argparse.Namespace, meter: Meter) -> Phase:
    out = Phase()
    t0 = time.monotonic() + 0.05
    timeout = args.tokens / args.rate + 30
    with meter:
        await asyncio.gather(
            *(direct_client(port, k, t0 + args.ramp * k / n, args.tokens, timeout, out) for k in range(n))
        )
    meter.fill(out)
    return out


def start_profiler(pid: int, profile: Path) -> subprocess.Popen[bytes]:
    """py-spy recording ``pid`` into ``profile`` until it gets SIGINT."""
    return subprocess.Popen(
        [str(BIN / "py-spy"), "record", "-p", str(pid), "-r", "200",
         "-f", "raw", "-o", str(profile), "--threads", "--nonblocking", "--subprocesses"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def run_phase_app(
    app: App, keys: Sequence[str], n: int, args: argparse.Namespace, meter: Meter, profile: Path | None
) -> Phase:
    out = Phase()
    url = f"ws://{HOST}:{app.port}/ws/chat/"
    sockets = await open_sockets(url, keys[:n], args.ws_compression, out.errors)
    timeout = args.tokens / args.rate + 30
    spy = None
    if profile is not None and shutil.which("py-spy", path=str(BIN)) and app.proc is not None:
        spy = await asyncio.to_thread(start_profiler, app.proc.pid, profile)  # until SIGINT at the phase's end
        await asyncio.sleep(0.5)  # py-spy attaches
    t0 = time.monotonic() + 0.05
    with meter:
        await asyncio.gather(
            *(
                app_client(ws, k, t0 + args.ramp * k / n, args.tokens, timeout, out, client_msg_id=args.client_msg_id)
                for k, ws in enumerate(sockets)
            )
        )
        await asyncio.sleep(0.3)  # the turns' last database flush comes after "done"
    meter.fill(out)
    refused = sum(v for k, v in out.errors.items() if k.startswith("handshake"))
    out.errors["handshake (other)"] += max(0, n - len(sockets) - refused)
    out.errors = +out.errors  # drop zero counts
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            stop(spy)
    extensions = {str(getattr(getattr(ws, "protocol", None), "extensions", "")) for ws in sockets[:1]}
    app.negotiated = ",".join(sorted(extensions))  # type: ignore[attr-defined]
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return out


def fmt_errors(c: collections.Counter[str]) -> str:
    return "0" if not c else ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))


def _pair(a: float, b: float, digits: int = 1) -> str:
    return f"{a:.{digits}f} / {b:.{digits}f}"


#: (column title, cell) -- every cell is right-aligned to its title's width.
COLUMNS: list[tuple[str, Any]] = [
    ("round", lambda r: r["label"]),
    ("    N", lambda r: str(r["n"])),
    (" TTFT direct p50/p95", lambda r: _pair(r["dt50"], r["dt95"])),
    ("    TTFT app p50/p95", lambda r: _pair(r["at50"], r["at95"])),
    (" TTFT ADDED p50/p95", lambda r: _pair(r["at50"] - r["dt50"], r["at95"] - r["dt95"])),
    (" tok direct p50/p99", lambda r: _pair(r["d50"], r["d99"], 2)),
    ("    tok app p50/p99", lambda r: _pair(r["a50"], r["a99"], 2)),
    ("  tok ADDED p50/p99", lambda r: _pair(r["a50"] - r["d50"], r["a99"] - r["d99"], 2)),
    (" tokens", lambda r: str(r["tokens"])),
    (" CPU s/1k tok", lambda r: f"{r['cpu_k']:.3f}"),
    (" app %core", lambda r: f"{r['util']:.0f}%"),
    (" harness cores", lambda r: f"{r['harness']:.2f}"),
    (" other cores", lambda r: f"{r['other']:.2f}"),
    (" lag p99", lambda r: f"{r['lag']:.1f}"),
    (" errors", lambda r: r["errors"]),
]
HEADER = " ".join(title for title, _ in COLUMNS)


def report(n: int, direct: Phase, app: Phase, label: str) -> str:
    row = {
        "label": label,
        "n": n,
        "dt50": pct(direct.ttft, 50),
        "dt95": pct(direct.ttft, 95),
        "at50": pct(app.ttft, 50),
        "at95": pct(app.ttft, 95),
        "d50": pct(direct.delays, 50),
        "d99": pct(direct.delays, 99),
        "a50": pct(app.delays, 50),
        "a99": pct(app.delays, 99),
        "tokens": app.tokens,
        "cpu_k": app.cpu_app / app.tokens * 1000 if app.tokens else float("nan"),
        "util": app.cpu_app / app.wall * 100 if app.wall else 0.0,
        "harness": (app.cpu_tgi + app.cpu_bench) / app.wall if app.wall else 0.0,
        "other": (app.cpu_other + direct.cpu_other) / max(1e-9, app.wall + direct.wall),
        "lag": pct(app.lag + direct.lag, 99),
        "errors": fmt_errors(direct.errors + app.errors),
    }
    return " ".join(cell(row).rjust(len(title)) if title != " errors" else " " + cell(row) for title, cell in COLUMNS)


def first_text_verdict(n: int, direct: Phase, app: Phase) -> str:
    """Goal 1 of issue 13: what the app adds to the time to the first shown text."""
    added50 = pct(app.ttft, 50) - pct(direct.ttft, 50)
    added95 = pct(app.ttft, 95) - pct(direct.ttft, 95)
    errors = sum((direct.errors + app.errors).values())
    met = added95 <= 150 and errors == 0
    return (
        f"  first shown text at N={n}: the app adds {added50:.0f} / {added95:.0f} ms p50/p95 over reading the "
        f"server directly (target <= 150 ms p95, no errors): {'MET' if met else 'NOT MET'} ({errors} errors)"
    )


def verdict(n: int, direct: Phase, app: Phase) -> str:
    added50 = pct(app.delays, 50) - pct(direct.delays, 50)
    added99 = pct(app.delays, 99) - pct(direct.delays, 99)
    errors = sum((direct.errors + app.errors).values())
    met = added50 <= 5 and added99 <= 20 and errors == 0
    return (
        f"  target at N={n} (<= 5 ms p50, <= 20 ms p99 added per token, no errors): "
        f"{'MET' if met else 'NOT MET'} ({added50:.2f} / {added99:.2f} ms added, {errors} errors)"
    )


async def run_configs(
    cfgs: Sequence[Config],
    args: argparse.Namespace,
    tgi: subprocess.Popen[bytes],
    tgi_port: int,
    tgi_url: str,
    workdir: Path,
) -> None:
    """Run the phases for one setting, on one app per config (this code, and ``--against``'s).

    With several apps, each N's direct read is measured once and the apps take turns right
    after it, the first one alternating from round to round, so drift in the machine's speed
    falls on both alike.
    """
    # Each app its own Redis database: both number their conversations from 1, and one layer
    # would deliver one app's events to the other's sockets.
    redis_urls = [redis_database(args.redis_url, i) for i in range(len(cfgs))]
    if cfgs[0].layer == "redis":
        import redis

        for url in redis_urls:
            redis.Redis.from_url(url).flushdb()  # stale groups of an earlier run would get our events
    apps: list[App] = []
    meters: list[Meter] = []  # apps[i]'s (its CPU, the scripted server's, this process's)
    try:
        for cfg, redis_url in zip(cfgs, redis_urls, strict=True):
            app = App(cfg, tgi_url, workdir, redis_url)
            apps.append(app)
            t = time.monotonic()
            app.keys = app.prepare(max(args.clients))
            app.start()
            pid = app.proc.pid if app.proc else 0
            code = f" [{cfg.code}]" if len(cfgs) > 1 else ""
            print(f"\n== {cfg.name}{code}  (app pid {pid}, ready in {time.monotonic() - t:.1f}s)")
            meters.append(Meter(pid, tgi.pid))
            # Warm-up: first imports, first connections, SQLite pages. Not reported.
            await run_phase_app(app, app.keys, min(5, max(args.clients)), args, meters[-1], None)
        header = HEADER + ("  code" if len(apps) > 1 else "")
        print(header)
        pooled: dict[tuple[int, int], tuple[Phase, Phase]] = {
            (i, n): (Phase(), Phase()) for i in range(len(apps)) for n in args.clients
        }
        profiled = False
        for r in range(1, args.rounds + 1):
            for n in args.clients:
                direct = await run_phase_direct(tgi_port, n, args, meters[0])
                order = list(enumerate(apps))
                for i, app in order if r % 2 else reversed(order):
                    await asyncio.sleep(0.3)
                    profile = None
                    last = n == max(args.clients) and r == args.rounds
                    if args.profile and not profiled and last and app.cfg.root == ROOT:
                        profile, profiled = workdir / f"profile-{app.cfg.server}-{app.cfg.layer}.txt", True
                    appp = await run_phase_app(app, app.keys, n, args, meters[i], profile)
                    print(report(n, direct, appp, f"#{r}") + _code(apps, i), flush=True)
                    pooled[i, n][0].merge(direct)
                    pooled[i, n][1].merge(appp)
                await asyncio.sleep(0.5)
        print("-" * 40 + " all rounds pooled " + "-" * 40)
        for i in range(len(apps)):
            for n in args.clients:
                print(report(n, *pooled[i, n], "all") + _code(apps, i))
        for i, app in enumerate(apps):
            code = f" [{app.cfg.code}]" if len(apps) > 1 else ""
            print(verdict(max(args.clients), *pooled[i, max(args.clients)]) + code)
            for n in args.clients:
                print(first_text_verdict(n, *pooled[i, n]) + code)
            for n in args.clients:
                direct, appp = pooled[i, n]
                if appp.newest and appp.tokens > 1.2 * len(appp.newest):
                    # Moderation releases whole chunks: a token waits for its chunk by design. The newest
                    # token of each frame shows what the relay and the checks add beyond that wait.
                    print(
                        f"  N={n}: {appp.tokens / len(appp.newest):.1f} tokens per delta frame; newest token of "
                        f"each frame: {pct(appp.newest, 50):.2f} / {pct(appp.newest, 99):.2f} ms p50/p99, added "
                        f"{pct(appp.newest, 50) - pct(direct.delays, 50):.2f} / "
                        f"{pct(appp.newest, 99) - pct(direct.delays, 99):.2f} ms{code}"
                    )
            print(
                f"  ws extensions negotiated: {getattr(app, 'negotiated', '') or 'none'};"
                f" tracebacks in the app's log: {app.server_errors()}{code}"
            )
        if len(apps) > 1:
            print(against_summary(apps, pooled, args.clients))
        if args.profile:
            for path in workdir.glob(f"profile-{cfgs[0].server}-{cfgs[0].layer}.txt"):  # noqa: ASYNC240  the report, after the phases
                i = next(i for i, app in enumerate(apps) if app.cfg.root == ROOT)
                largest = pooled[i, max(args.clients)][1]
                cpu_k = largest.cpu_app / largest.tokens * 1000 if largest.tokens else None
                print(f"  py-spy profile of the app at N={max(args.clients)} ({path}):")
                print(summarize_profile(path, cpu_per_1k=cpu_k))
        for app in apps:
            if app.server_errors():
                print(f"  --- last lines of the app's log ({app.cfg.code}) ---\n" + tail(app.log))
    finally:
        for app in apps:
            app.stop()


def redis_database(url: str, offset: int) -> str:
    """``url`` with its database number moved on by ``offset`` (``redis://h:6379/13``, 1 -> ``/14``)."""
    if not offset:
        return url
    base, _, db = url.rstrip("/").rpartition("/")
    if not db.isdigit() or base.endswith("/"):  # no database in the URL: 0
        return f"{url.rstrip('/')}/{offset}"
    return f"{base}/{int(db) + offset}"


def _code(apps: Sequence[App], i: int) -> str:
    return f"  {apps[i].cfg.code}" if len(apps) > 1 else ""


def against_summary(apps: Sequence[App], pooled: dict[tuple[int, int], tuple[Phase, Phase]], ns: Sequence[int]) -> str:
    """This code against ``--against``'s, N by N: CPU a token and first text added, with ratios."""
    base, now = 0, len(apps) - 1
    lines = [f"  {apps[now].cfg.code} against {apps[base].cfg.code} (same run, same harness, alternating):"]
    for n in ns:
        (d0, a0), (d1, a1) = pooled[base, n], pooled[now, n]
        cpu0 = a0.cpu_app / a0.tokens * 1000 if a0.tokens else float("nan")
        cpu1 = a1.cpu_app / a1.tokens * 1000 if a1.tokens else float("nan")
        ft0 = pct(a0.ttft, 95) - pct(d0.ttft, 95)
        ft1 = pct(a1.ttft, 95) - pct(d1.ttft, 95)
        lines.append(
            f"    N={n}: CPU a token {cpu0:.3f} -> {cpu1:.3f} ms ({cpu1 / cpu0:.2f}x, {cpu0 / cpu1:.1f} times less);"
            f" first text added p95 {ft0:.0f} -> {ft1:.0f} ms"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def checkout(ref: str | None, workdir: Path) -> Iterator[tuple[Path, str] | None]:
    """``ref`` checked out in a temporary git worktree (removed afterwards), and its short name."""
    if not ref:
        yield None
        return
    git = ["git", "-C", str(ROOT)]
    short = subprocess.run([*git, "rev-parse", "--short", ref], check=True, capture_output=True, text=True)
    where = workdir / f"against-{short.stdout.strip()}"
    subprocess.run([*git, "worktree", "add", "--detach", "--quiet", str(where), ref], check=True)
    try:
        yield where, short.stdout.strip()
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(where)], check=False)
        subprocess.run([*git, "worktree", "prune"], check=False)


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


async def main_async(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    tgi_log = workdir / "tgi.log"
    tgi = subprocess.Popen(  # noqa: ASYNC220  setup: nothing runs on the loop yet
        [sys.executable, "-m", "bench.relay", "tgi-server", "--port", "0", "--rate", str(args.rate),
         "--tokens", str(args.tokens)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=tgi_log.open("wb"),
    )  # fmt: skip
    try:
        assert tgi.stdout is not None
        tgi_url = tgi.stdout.readline().decode().strip()
        if not tgi_url:
            raise RuntimeError(f"scripted TGI server did not start:\n{tail(tgi_log)}")
        tgi_port = int(tgi_url.rsplit(":", 1)[1])
        print(
            f"relay bench: {args.tokens} tokens/reply at {args.rate:g} tok/s, N={','.join(map(str, args.clients))}, "
            f"{args.rounds} round(s), starts spread over {args.ramp:g}s; {os.cpu_count()} cores, "
            f"load average {loadavg()}; scripted server {tgi_url} (pid {tgi.pid}); work dir {workdir}"
        )
        print(
            "TTFT: send -> first token (ms). tok: token written by the scripted server -> token at the client (ms).\n"
            "ADDED = app - direct, same percentile. CPU s/1k tok and %core: the app server process only.\n"
            "harness cores: scripted server + load generator during the app phase; other cores: everything else\n"
            "on the machine (other people's work: high values mean disturbed figures); lag p99: the load\n"
            "generator's own event-loop lag (ms)."
        )
        with checkout(args.against, workdir) as against:
            tree, code = against or (ROOT, "now")
            # Several --ws without --against: one app per implementation, alternating like --against.
            side_by_side = len(args.ws) > 1 and not against and args.server == ["uvicorn"]
            for mode, server, ws, layer in itertools.product(
                args.modes, args.server, args.ws[:1] if side_by_side else args.ws, args.layer
            ):
                # relay: the app's own switch releases every token unchecked (the relay alone).
                env = (("GUARDRAILS_ENABLED", "false"), *args.env) if mode == "relay" else tuple(args.env)
                cfg = Config(server, layer, env, args.ws_deflate, tuple(args.patch), args.workers, ws=ws)
                if cfg.workers > 1 and (layer != "redis" or server != "uvicorn"):
                    print(
                        f"\n== {cfg.name}: skipped: --workers needs uvicorn and the Redis layer (turns cross processes)"
                    )
                    continue
                # --against's app as its own `make run` served it: its --ws may differ from this one's.
                base_ws = args.against_ws or ws
                base_code = code if base_ws == ws else f"{code} --ws {base_ws}"
                cfgs = [dataclasses.replace(cfg, root=tree, code=base_code, ws=base_ws)] if against else []
                if side_by_side:
                    cfgs = [dataclasses.replace(cfg, ws=w, code=f"--ws {w}") for w in args.ws]
                try:
                    await run_configs([*cfgs, cfg] if not side_by_side else cfgs, args, tgi, tgi_port, tgi_url, workdir)
                except Exception as exc:  # a figure too: say it and go on with the next config
                    print(f"\n== {cfg.name}: FAILED: {type(exc).__name__}: {exc}")
        print(f"\nload average at the end {loadavg()}")
    finally:
        stop(tgi)
        if not args.keep:
            for p in workdir.glob("app-*"):  # noqa: ASYNC240  clean-up: nothing runs on the loop any more
                shutil.rmtree(p, ignore_errors=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default="1,50,200", help="comma-separated N (default 1,50,200)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--tokens", type=int, default=60, help="tokens per reply")
    p.add_argument("--rate", type=float, default=30.0, help="tokens per second per stream")
    p.add_argument("--ramp", type=float, default=1.0, help="spread the N starts over this many seconds")
    p.add_argument("--server", default="uvicorn", help="uvicorn (as make run), daphne, or both (comma-separated)")
    p.add_argument("--modes", default="relay,product",
                   help="relay: tokens shown unchecked (GUARDRAILS_ENABLED=false); product: moderated")  # fmt: skip
    p.add_argument("--ws", default="websockets-sansio",
                   help="uvicorn's WebSocket implementation(s), comma-separated: websockets-sansio (as make run), "
                        "websockets (uvicorn's older one)")  # fmt: skip
    p.add_argument("--layer", default="memory", help="memory, redis or both (comma-separated)")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/13",
                   help="for --layer redis (flushed!; --against's app uses the next database)")  # fmt: skip
    p.add_argument("--workers", type=int, default=1,
                   help="uvicorn server processes (WEB_CONCURRENCY); > 1 needs --layer redis")  # fmt: skip
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment for the app")
    p.add_argument("--no-ws-compression", dest="ws_compression", action="store_false",
                   help="clients do not offer permessage-deflate (browsers do)")  # fmt: skip
    p.add_argument("--no-ws-deflate", dest="ws_deflate", action="store_false",
                   help="uvicorn: refuse permessage-deflate")  # fmt: skip
    p.add_argument("--patch", action="append", default=[], choices=sorted(PATCHES),
                   help="apply a what-if change inside the app's process (see PATCHES)")  # fmt: skip
    p.add_argument(
        "--client-msg-id", action="store_true", help="every message carries a client_msg_id, as the web UI's do"
    )
    p.add_argument("--profile", action="store_true", help="py-spy the app at the largest N (last round)")
    p.add_argument("--keep", action="store_true", help="keep the app's work dir (logs, database)")
    p.add_argument("--against", metavar="REF",
                   help="also run the app at this git commit (a temporary worktree, this venv), alternating "
                        "with this code phase by phase, and print the ratios")  # fmt: skip
    p.add_argument("--against-ws", metavar="WS",
                   help="uvicorn's WebSocket implementation for --against's app (default: --ws), as its make run "
                        "served it: websockets up to 6a19ef3 (59cea55, the code issue 13 measured, did)")  # fmt: skip
    args = p.parse_args(argv)
    args.clients = [int(x) for x in args.clients.split(",")]
    args.server = [s.strip() for s in args.server.split(",")]
    args.layer = [s.strip() for s in args.layer.split(",")]
    args.ws = [s.strip() for s in args.ws.split(",")]
    args.modes = [s.strip() for s in args.modes.split(",")]
    args.env = [tuple(e.split("=", 1)) for e in args.env]
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tgi-server"]:
        tgi_server_main(argv[1:])
        return
    if argv[:1] == ["make-keys"]:
        make_keys_main(argv[1:])
        return
    args = parse_args(argv)
    with contextlib.suppress(ImportError):  # the load generator is harness: keep its CPU low
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
