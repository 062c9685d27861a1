"""``make run``: the whole product on one machine, with nothing to configure.

1. apply migrations and make sure the demo user and the demo reviewer exist (their passwords
   are printed once);
2. unless ``LLM_BASE_URL`` is set, start llama.cpp's OpenAI-compatible server on
   SmolLM2-135M-Instruct (scripts/smollm2.py) and point the app at it (``LLM_API=chat``);
3. with ``REDIS_URL`` set, start a Celery worker with beat beside the server;
4. serve the app with uvicorn until Ctrl-C (or SIGTERM), then stop everything it started.

If any of the processes exits, the others are stopped too, and this script exits with its status.
Knobs read here (the app's own settings are read only by config/settings.py): ``HOST`` (default
127.0.0.1), ``PORT`` (8000), ``LLAMA_PORT`` (8081), ``LLAMA_THREADS`` (2), ``REVIEW_DEMO_USERNAME``
(reviewer), ``WEB_CONCURRENCY`` (server processes; only with ``REDIS_URL``, default: one per CPU), and
``LLM_BASE_URL`` / ``REDIS_URL`` to decide what to start. ``PROMETHEUS_MULTIPROC_DIR`` (default
``var/prometheus``) is emptied and handed to every process it starts, so ``/metrics`` serves their
sum. "Ready" is printed once ``/readyz`` says the process is warm (checks run once, LLM server
reachable), with the seconds since start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import smollm2

ROOT = smollm2.ROOT
LOG_DIR = ROOT / "var" / "log"
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def say(text: str) -> None:
    print(f"[run] {text}", flush=True)


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll ``url`` until it answers (any HTTP status) or ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)
    raise RuntimeError(f"{process.args!r} exited with status {process.returncode} while starting")


class Processes:
    """The background processes of this run; stopped together, newest first."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
        out = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            out = log.open("ab")
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None)
        self.running.append((name, process))
        return process

    def wait_any(self) -> tuple[str, int]:
        """Block until one process exits; its name and status."""
        while True:
            for name, process in self.running:
                if process.poll() is not None:
                    return name, process.returncode
            time.sleep(0.5)

    def stop_all(self, grace: float = 10.0) -> None:
        for _, process in reversed(self.running):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + grace
        for name, process in reversed(self.running):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop within {grace:.0f} s; killing it")
                process.kill()
                process.wait()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the same way out as Ctrl-C


def start_llama(procs: Processes, env: dict[str, str]) -> str:
    port = int(env.get("LLAMA_PORT", "8081"))
    threads = int(env.get("LLAMA_THREADS", "2"))
    base_url = f"http://127.0.0.1:{port}"
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(
                f"[run] port {port} is already in use: set LLAMA_PORT to a free port, "
                "or LLM_BASE_URL to use a model server that is already running"
            )
    model = smollm2.ensure_model()
    log = LOG_DIR / "llama-server.log"
    say(f"LLM_BASE_URL is not set: starting llama.cpp on {model.name} at {base_url} (log: {log.relative_to(ROOT)})")
    command = smollm2.server_command(model, port=port, threads=threads)
    process = procs.start("llama.cpp server", command, smollm2.server_env(env), log)
    try:
        took = smollm2.wait_healthy(base_url, timeout=120, process=process)
        first = smollm2.first_reply(base_url, process=process)
    except (RuntimeError, TimeoutError) as exc:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(f"[run] {exc}. Last lines of {log}:\n" + "\n".join(tail)) from None
    say(f"llama.cpp server ready in {took:.1f} s (a first one-token reply: {first:.1f} s)")
    return base_url


def web_concurrency(env: dict[str, str]) -> int:
    """Server processes: ``WEB_CONCURRENCY`` (default one per CPU) with Redis, else 1 (the
    in-memory channel layer lives inside one process, so a second one could not reach a turn)."""
    wanted = env.get("WEB_CONCURRENCY", "").strip()
    if not env.get("REDIS_URL"):
        if wanted and wanted != "1":
            say(f"WEB_CONCURRENCY={wanted} needs REDIS_URL (processes share turns through Redis): serving with 1")
        return 1
    if wanted:
        return max(1, int(wanted))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll ``/readyz`` until it answers 200 (warm) or ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # HTTPError (503 "warming") is a URLError: keep waiting
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not say ready within {timeout:.0f} s")
        time.sleep(0.2)
    raise RuntimeError(f"{process.args!r} exited with status {process.returncode} while starting")


def main() -> int:
    began = time.monotonic()
    signal.signal(signal.SIGTERM, _terminate)
    env = dict(os.environ)
    # Metrics of every process started here add up in one folder; stale files from an earlier
    # run would add up too, so it starts empty (prometheus_client's multiprocess contract).
    multiproc = Path(env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / "var" / "prometheus")))
    shutil.rmtree(multiproc, ignore_errors=True)
    multiproc.mkdir(parents=True, exist_ok=True)
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")

    manage("migrate", "--noinput", "-v", "0", env=env)
    manage("ensure_demo_user", env=env)
    reviewer = env.get("REVIEW_DEMO_USERNAME", "reviewer")
    manage("create_reviewer", reviewer, "--if-missing", env=env)

    procs = Processes()
    try:
        if not env.get("LLM_BASE_URL"):
            env["LLM_BASE_URL"] = start_llama(procs, env)
            env["LLM_API"] = "chat"
        else:
            say(f"Using the LLM server at {env['LLM_BASE_URL']} (LLM_API={env.get('LLM_API', 'chat')})")
        if env.get("REDIS_URL"):
            say("REDIS_URL is set: starting a Celery worker with beat")
            schedule = ROOT / "var" / "celerybeat-schedule"
            schedule.parent.mkdir(parents=True, exist_ok=True)
            procs.start(
                "celery worker",
                [str(BIN / "celery"), "-A", "config", "worker", "-B", "-s", str(schedule), "-l", "INFO", "-c", "2"],
                env,
            )
        else:
            say("REDIS_URL is not set: in-memory channel layer, review tasks run in-process")
            # No beat without a broker: the same escalation task runs on a timer instead.
            procs.start("review escalation", [str(BIN / "python"), "manage.py", "escalate_reviews", "--every"], env)
        # uvicorn (uvloop, httptools, websockets' sans-I/O protocol, no per-message deflate) relays
        # a token for about a third less CPU than daphne in bench/relay.py, and the sans-I/O
        # WebSocket implementation ~13 % less than uvicorn's older one; daphne serves the app as well.
        workers = web_concurrency(env)
        say(f"Starting {workers} server process{'es' if workers > 1 else ''} on http://{host}:{port}/")
        server = procs.start(
            "uvicorn",
            [
                str(BIN / "uvicorn"),
                "config.asgi:application",
                "--host",
                host,
                "--port",
                port,
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--ws",
                "websockets-sansio",
                "--ws-per-message-deflate",
                "false",
                "--workers",
                str(workers),
            ],
            env,
        )
        wait_http(f"http://{host}:{port}/healthz", server, timeout=120)
        say("Serving; warming up (checks run once, LLM server probed)")
        wait_ready(f"http://{host}:{port}/readyz", server, timeout=120)
        username = env.get("DEMO_USERNAME", "demo")
        say(f"Ready in {time.monotonic() - began:.0f} s: open http://{host}:{port}/ and log in as {username!r} to chat")
        say(f"       and, in another browser window, http://{host}:{port}/console/ as {reviewer!r} to review")
        say("(passwords: shown when the users were created; to change one: python manage.py changepassword NAME)")
        say("Ctrl-C stops everything.")
        name, status = procs.wait_any()
        say(f"{name} exited with status {status}; stopping the rest")
        return status or 1
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
