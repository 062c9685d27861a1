"""Idle sockets: what 1,000 open, authenticated, silent WebSockets cost the app server.

Starts the app as ``make run`` does (uvicorn + uvloop + websockets, in-memory layer, fresh
SQLite database), creates N users with API keys, then measures the server process:

* RSS before any socket, after opening N sockets (``Authorization: Bearer <key>``) and after
  ``--idle`` seconds of silence: the delta per socket (target <= 100 KiB);
* CPU (user+system) during the idle period, as a share of one core (target <= 5 %): keep-alive
  pings, timers, channel-layer sweeps...

The sockets are opened from this process (its file limit is raised to the hard limit first;
the server inherits it). Prints figures and exits 0.

    .venv/bin/python -m bench.idle [--sockets 1000] [--idle 30] [--env K=V ...]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.relay import HOST, App, Config, proc_cpu, system_busy, tail

PAGE = resource.getpagesize()


def rss_kib(pid: int) -> float:
    """Resident set size of ``pid`` in KiB (``/proc/<pid>/statm``)."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1024


async def open_all(url: str, keys: list[str], errors: collections.Counter[str]) -> list[Any]:
    from websockets.asyncio.client import connect

    limit = asyncio.Semaphore(32)

    async def one(key: str) -> Any:
        async with limit:
            try:
                return await connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {key}"},
                    compression=None,
                    ping_interval=None,  # the client stays silent: the server's keep-alive is what we measure
                    open_timeout=60,
                )
            except Exception as exc:
                errors[f"handshake {type(exc).__name__}"] += 1
                return None

    opened = await asyncio.gather(*(one(k) for k in keys))
    return [ws for ws in opened if ws is not None]


async def main_async(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    workdir = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    env = tuple((key, value) for key, _, value in (kv.partition("=") for kv in args.env))
    app = App(Config("uvicorn", "memory", env, ws_deflate=False), "http://127.0.0.1:9", workdir, "")
    try:
        keys = app.prepare(args.sockets)
        app.start()
        assert app.proc is not None
        pid = app.proc.pid
        await asyncio.sleep(2.0)  # start-up warm-up settles
        before = rss_kib(pid)
        errors: collections.Counter[str] = collections.Counter()
        t = time.monotonic()
        sockets = await open_all(f"ws://{HOST}:{app.port}/ws/chat/", keys, errors)
        opened_s = time.monotonic() - t
        await asyncio.sleep(1.0)
        after_open = rss_kib(pid)
        cpu0, busy0, t0 = proc_cpu(pid), system_busy(), time.monotonic()
        await asyncio.sleep(args.idle)  # wait-ok: measuring the idle period itself
        cpu, wall = proc_cpu(pid) - cpu0, time.monotonic() - t0
        other = max(0.0, system_busy() - busy0 - cpu) / wall
        after_idle = rss_kib(pid)
        alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
        n = max(1, len(sockets))
        per_socket = (after_idle - before) / n
        share = cpu / wall * 100
        print(
            f"idle bench: {args.sockets} sockets requested, {len(sockets)} opened in {opened_s:.1f}s "
            f"({sum(errors.values())} refused: {dict(errors) or 'none'}), {alive} still open after "
            f"{args.idle:.0f}s idle; file limit {soft} -> {hard}; other cores busy {other:.2f}"
        )
        print(f"{'':28}{'value':>12}  target")
        print(f"{'server RSS before':28}{before / 1024:>10.1f} MiB")
        print(f"{'server RSS, sockets open':28}{after_open / 1024:>10.1f} MiB")
        print(f"{'server RSS after idle':28}{after_idle / 1024:>10.1f} MiB")
        print(f"{'RSS per socket':28}{per_socket:>10.1f} KiB  <= 100 KiB: {'MET' if per_socket <= 100 else 'NOT MET'}")
        print(f"{'server CPU while idle':28}{share:>10.2f} %  <= 5 % of a core: {'MET' if share <= 5 else 'NOT MET'}")
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        if app.server_errors():
            print("--- last lines of the app's log ---\n" + tail(app.log))
    finally:
        app.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--idle", type=float, default=30.0, help="seconds of silence to measure")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment for the app")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, database)")
    args = p.parse_args(argv)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main(sys.argv[1:])
