"""Real processes to break on purpose: the app under uvicorn, a Redis of one's own, a TCP proxy
in front of Postgres that can be cut, a Celery worker. Used by ``bench.faults`` and the
fault tests (tests/faults/test_processes.py).

Nothing here touches shared services: Redis is a private ``redis-server`` on a free port, and
Postgres is reached through :class:`TcpProxy`, so an "outage" is the proxy refusing traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` (another process's state) until true, or raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)  # wait-ok: poll interval of a deadline-bounded wait on another process


class RedisServer:
    """A private ``redis-server`` (no persistence) that can be stopped and started again."""

    def __init__(self, log: Path) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, timeout=10, what="redis-server to answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class TcpProxy:
    """A TCP proxy on a free port, in its own thread; :meth:`cut` drops every connection and
    refuses new ones until :meth:`restore` (a database outage, seen from the app)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tcp-proxy")
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        def drop() -> None:
            self.open = False
            for writer in list(self._writers):
                with contextlib.suppress(Exception):
                    writer.transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(drop)

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)


class AppServer:
    """``config.asgi:application`` under uvicorn (the default server) on a free port."""

    def __init__(self, env: Mapping[str, str], log: Path, *, port: int | None = None) -> None:
        self.env = dict(env)
        self.log = log
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning",
                 "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"],  # as make run
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(self._healthy, timeout=timeout, what=f"uvicorn on {self.port} ({self.log})")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://{self.host}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def app_env(*, redis_url: str, database_url: str, llm_url: str, **extra: str) -> dict[str, str]:
    """The environment of an app process (or worker) in a fault scenario."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "LLM_BASE_URL": llm_url,
        "LLM_API": "chat",
        "DEBUG": "false",
        "CHAT_EVENT_FLUSH_MS": "50",
        "CHAT_TURN_HEARTBEAT_SECONDS": "1",
        "CHAT_TURN_LEASE_SECONDS": "5",
        "CHAT_ACCESS_RECHECK_SECONDS": "5",
        "GUARDRAILS_PII": "off",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("CI_DATABASE_URL", None)
    return env
