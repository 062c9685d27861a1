"""The app as a real server process for tests: a free port, daphne, ready when /healthz answers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Return once ``url``/healthz answers 200; fail at once if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        # Wait for the server to die *or* a tenth of a second, whichever comes first.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.1)
            raise RuntimeError(f"daphne exited ({process.returncode}):\n{log.read_text()[-4000:]}")
    raise RuntimeError(f"daphne did not answer /healthz within {timeout}s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def daphne(env: Mapping[str, str], log: Path, *, timeout: float = 60.0) -> Iterator[str]:
    """Serve ``config.asgi:application`` with ``env``; yield its base URL once it is healthy."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, log, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
