"""The fault drill: break real processes mid-reply and count what was lost or left stuck.

    python -m bench.faults [--database-url postgres://postgres@127.0.0.1:5432/postgres]

It starts two uvicorn servers (A and B), a Redis of its own, a TCP proxy in front of the shared
Postgres (with a database of its own, created and dropped here), a Celery worker and the
scripted TGI server, then runs each fault and prints:

    fault | replies lost | conversations stuck | review items lost or doubled | s until a new turn works

*Replies lost*: a reply whose stored events do not end in ``done``, have a gap in ``seq``, or
whose stored text differs from its deltas. *Stuck*: a conversation still ``busy`` (or a reply
still ``streaming``) once the fault is over. *Seconds*: from the end of the fault until a new
message in that conversation completes. The same scenarios are asserted by
tests/faults/test_processes.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from websockets.sync.client import ClientConnection, connect

from bench.procs import ROOT, AppServer, RedisServer, TcpProxy, app_env, wait_until

if TYPE_CHECKING:
    from tests.tgi_server import TGIServer

TIMEOUT = 30.0
SLOW = "[[tokens:40]] [[rate:8]]"  # a reply of about five seconds


@dataclass
class Result:
    fault: str
    replies_lost: int = 0
    stuck: int = 0
    review_lost_or_doubled: int = 0
    seconds_to_new_turn: float | None = None
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        seconds = "-" if self.seconds_to_new_turn is None else f"{self.seconds_to_new_turn:.1f}"
        return f"| {self.fault} | {self.replies_lost} | {self.stuck} | {self.review_lost_or_doubled} | {seconds} |"


@dataclass
class Stack:
    """The processes of one drill; scenarios break and mend them."""

    tmp: Path
    redis: RedisServer
    proxy: TcpProxy
    tgi: TGIServer
    database_url: str  # through the proxy, for the app processes
    servers: dict[str, AppServer] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return app_env(redis_url=self.redis.url, database_url=self.database_url, llm_url=self.tgi.url, **extra)

    def start_servers(self) -> None:
        for name in ("a", "b"):
            server = self.servers.get(name) or AppServer(self.env(), self.tmp / f"uvicorn-{name}.log")
            self.servers[name] = server
            if server.process is None or server.process.poll() is not None:
                server.start()

    def host(self, name: str) -> str:
        return self.servers[name].host

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        for worker in self.workers:
            with contextlib.suppress(Exception):
                worker.kill()
                worker.wait(10)
        self.redis.stop()
        self.proxy.close()
        self.tgi.stop_thread()


# --- Talking to the app -----------------------------------------------------------------


def open_socket(host: str, key: str) -> ClientConnection:
    return connect(f"ws://{host}/ws/chat/", additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=10)


def recv_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    frames: list[dict[str, Any]] = []
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        frames.append(frame)
        if done(frame):
            return frames


def is_type(type_: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("type") == type_


def send_message(ws: ClientConnection, text: str, conversation_id: int | None) -> dict[str, Any]:
    """Send; return ``turn_started`` (or the ``error`` that refused it)."""
    ws.send(json.dumps({"type": "user_message", "text": text, "conversation_id": conversation_id}))
    frames = recv_until(ws, lambda f: f["type"] in {"turn_started", "error"})
    return frames[-1]


def new_turn_works(host: str, key: str, conversation_id: int, *, since: float, timeout: float = 60) -> float:
    """Seconds from ``since`` until a new message in the conversation completes (retrying busy)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open_socket(host, key) as ws:
                started = send_message(ws, "[[tokens:3]]", conversation_id)
                if started["type"] == "turn_started":
                    mid = started["message_id"]

                    def is_done(f: dict[str, Any], mid: int = mid) -> bool:
                        return bool(f["type"] == "done" and f["message_id"] == mid)

                    frames = recv_until(ws, is_done)
                    if frames[-1]["status"] == "complete":
                        return time.monotonic() - since
        except Exception:  # the server or the layer is still coming back
            pass
        time.sleep(0.25)  # wait-ok: retry interval of a deadline-bounded loop
    raise TimeoutError(f"no new turn completed in conversation {conversation_id} within {timeout}s")


# --- What was lost (read from the database: the source of truth) ------------------------


def audit(conversation_ids: list[int]) -> tuple[int, int]:
    """(replies lost, conversations stuck) in these conversations, from the stored events."""
    from chat.models import Event, Message

    lost = stuck = 0
    # A turn publishes its done before storing it: give the final store a moment to land.
    with contextlib.suppress(TimeoutError):
        streaming = Message.objects.filter(conversation_id__in=conversation_ids, status="streaming")
        wait_until(lambda: not streaming.exists(), timeout=10, what="final stores")
    for cid in conversation_ids:
        frames = [e.payload for e in Event.objects.filter(conversation_id=cid).order_by("seq")]
        if [f["seq"] for f in frames] != list(range(1, len(frames) + 1)):
            lost += 1  # a gap: some event was never stored
        for reply in Message.objects.filter(conversation_id=cid, role="assistant"):
            own = [f for f in frames if f.get("message_id") == reply.pk]
            if reply.status == "streaming":
                stuck += 1
                continue
            ends = [f for f in own if f["type"] == "done"]
            deltas = "".join(f["text"] for f in own if f["type"] == "delta")
            released = "".join(s["text"] for s in reply.segments if s.get("kind") == "released")
            if len(ends) != 1 or ends[0]["status"] != reply.status or deltas != released:
                lost += 1
    return lost, stuck


# --- The faults -------------------------------------------------------------------------


def slow_reply(host: str, key: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = open_socket(host, key)
    started = send_message(ws, SLOW, None)
    assert started["type"] == "turn_started", started
    recv_until(ws, is_type("delta"))  # it is streaming
    return ws, started


def redis_blip(stack: Stack, key: str) -> Result:
    """Redis killed for three seconds mid-reply (it comes back empty: no persistence)."""
    result = Result("Redis down 3 s mid-reply")
    ws, started = slow_reply(stack.host("a"), key)
    stack.redis.stop()
    time.sleep(3)  # wait-ok: the length of the outage
    stack.redis.start()
    back = time.monotonic()
    try:  # the socket that lost the layer learns it: closed (the page reconnects) or an error
        recv_until(ws, lambda f: f["type"] in {"error", "done"}, timeout=15)
        result.notes.append("the socket stayed open and got the end")
    except Exception as exc:
        result.notes.append(f"the socket was closed ({type(exc).__name__}); replay on reconnect")
    ws.close()
    cid = started["conversation_id"]
    result.seconds_to_new_turn = new_turn_works(stack.host("a"), key, cid, since=back)
    result.replies_lost, result.stuck = audit([cid])
    return result


def server_crash(stack: Stack, key: str) -> Result:
    """Server A SIGKILLed mid-reply; the user goes on through B; A is started again."""
    result = Result("server SIGKILL mid-reply")
    ws, started = slow_reply(stack.host("a"), key)
    stack.servers["a"].kill()
    killed = time.monotonic()
    with contextlib.suppress(Exception):
        ws.close()
    cid = started["conversation_id"]
    with open_socket(stack.host("b"), key) as on_b:  # a page on B sees the reply end (failed)
        on_b.send(json.dumps({"type": "subscribe", "conversation_id": cid, "after_seq": started["seq"]}))
        end = recv_until(on_b, lambda f: f["type"] == "done" and f["message_id"] == started["message_id"])[-1]
        result.notes.append(f"B saw done {end['status']} after {time.monotonic() - killed:.1f}s")
    result.seconds_to_new_turn = new_turn_works(stack.host("b"), key, cid, since=killed)
    stack.servers["a"].start()
    result.replies_lost, result.stuck = audit([cid])  # ended failed with error + done: not lost
    return result


def database_outage(stack: Stack, key: str, seconds: float = 3.0) -> Result:
    """Every Postgres connection of the app cut, and new ones refused, for a few seconds."""
    result = Result(f"Postgres unreachable {seconds:g} s mid-reply")
    ws, started = slow_reply(stack.host("a"), key)
    stack.proxy.cut()
    time.sleep(seconds)  # wait-ok: the length of the outage
    stack.proxy.restore()
    back = time.monotonic()
    frames = recv_until(ws, lambda f: f["type"] == "done" and f["message_id"] == started["message_id"])
    result.notes.append(f"the reply ended {frames[-1]['status']}")
    # What the user is told: the error frame before done (stored a moment later with the reply).
    errors = [f["detail"] for f in frames if f["type"] == "error" and f.get("message_id") == started["message_id"]]
    if errors:
        result.notes.append(f"with: {errors[-1]}")
    ws.close()
    cid = started["conversation_id"]
    result.seconds_to_new_turn = new_turn_works(stack.host("a"), key, cid, since=back)
    result.replies_lost, result.stuck = audit([cid])
    return result


def model_stall(stack: Stack, key: str) -> Result:
    """TGI stops sending mid-reply (LLM_READ_TIMEOUT is 3 s in the drill)."""
    result = Result("TGI stalls mid-reply")
    with open_socket(stack.host("a"), key) as ws:
        started = send_message(ws, "[[tokens:20]] [[rate:20]] [[stall:5]]", None)
        t0 = time.monotonic()
        frames = recv_until(ws, lambda f: f["type"] == "done" and f["message_id"] == started["message_id"])
        errors = [f["code"] for f in frames if f["type"] == "error"]
        result.notes.append(f"error {errors} and done {frames[-1]['status']} {time.monotonic() - t0:.1f}s after start")
    cid = started["conversation_id"]
    result.seconds_to_new_turn = new_turn_works(stack.host("a"), key, cid, since=time.monotonic())
    result.replies_lost, result.stuck = audit([cid])
    return result


def stop_across(stack: Stack, key: str) -> Result:
    """Start on A, stop from B."""
    result = Result("stop sent to B for a turn on A")
    ws, started = slow_reply(stack.host("a"), key)
    with open_socket(stack.host("b"), key) as on_b:
        on_b.send(json.dumps({"type": "stop", "message_id": started["message_id"]}))
        t0 = time.monotonic()
        end = recv_until(ws, lambda f: f["type"] == "done")[-1]
    result.notes.append(f"A's socket got done {end['status']} {time.monotonic() - t0:.2f}s after the stop")
    ws.close()
    cid = started["conversation_id"]
    result.seconds_to_new_turn = new_turn_works(stack.host("b"), key, cid, since=time.monotonic())
    result.replies_lost, result.stuck = audit([cid])
    if end["status"] != "stopped":
        result.stuck += 1
    return result


def worker_kill(stack: Stack, key: str) -> Result:
    """The Celery worker SIGKILLed inside queue_review's transaction; a second worker takes over."""
    from review.models import ReviewItem
    from tests.tgi_server import Script

    result = Result("worker SIGKILL in queue_review")
    marker = stack.tmp / f"blocked-{time.monotonic_ns()}"
    first = start_worker(stack, block_at="in_transaction", marker=marker)
    stack.tgi.push(Script(tokens=["Thanks", " for", " asking.", " Call", " us", " at", " +1", " 415", " 555",
                                  " 0134", " any", " time."]))  # fmt: skip
    with open_socket(stack.host("a"), key) as ws:
        started = send_message(ws, "How do I reach you?", None)
        end = recv_until(ws, lambda f: f["type"] == "done")[-1]
    if end["status"] != "held":
        result.notes.append(f"the reply was not held ({end['status']}): nothing to review")
    pid_file = Path(str(marker) + ".pid")
    wait_until(pid_file.exists, timeout=TIMEOUT, what="queue_review to reach its transaction")
    first.kill()
    first.wait(10)
    killed = time.monotonic()
    start_worker(stack, block_at="in_transaction", marker=marker)
    message_id = started["message_id"]
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: ReviewItem.objects.filter(reply_id=message_id).exists(), timeout=TIMEOUT,
                   what="the review item")  # fmt: skip
    time.sleep(2)  # wait-ok: a late duplicate delivery would land in this window
    items = ReviewItem.objects.filter(reply_id=message_id).count()
    result.review_lost_or_doubled = abs(items - 1)
    result.notes.append(f"{items} review item(s) {time.monotonic() - killed:.1f}s after the kill")
    cid = started["conversation_id"]
    result.seconds_to_new_turn = new_turn_works(stack.host("a"), key, cid, since=killed)
    result.replies_lost, result.stuck = audit([cid])
    return result


def revoke_from_process(stack: Stack, key: str) -> None:
    """``manage.py revoke_api_key`` as an operator runs it, against the drill's Redis and database."""
    subprocess.run([sys.executable, "manage.py", "revoke_api_key", key], cwd=ROOT, env=stack.env(), check=True,
                   capture_output=True, timeout=60)  # fmt: skip


def start_worker(stack: Stack, *, block_at: str, marker: Path) -> subprocess.Popen[bytes]:
    log = stack.tmp / f"worker-{len(stack.workers)}.log"
    env = stack.env(REVIEW_TEST_BLOCK_AT=block_at, REVIEW_TEST_BLOCK_MARKER=str(marker))
    command = [sys.executable, "-m", "celery", "-A", "tests.review.worker_app", "worker", "--pool=solo",
               "--concurrency=1", "-n", f"drill-{len(stack.workers)}@%h", "--without-gossip", "--without-mingle",
               "--without-heartbeat", "--loglevel=INFO"]  # fmt: skip
    with log.open("wb") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    stack.workers.append(worker)
    wait_until(lambda: " ready." in log.read_text(errors="replace"), timeout=60, what=f"worker ({log})")
    return worker


SCENARIOS: list[Callable[[Stack, str], Result]] = [
    redis_blip, server_crash, database_outage, model_stall, stop_across, worker_kill,
]  # fmt: skip


@contextlib.contextmanager
def stack(tmp: Path, database_url: str) -> Iterator[Stack]:
    """Redis, the Postgres proxy, TGI and two uvicorn servers for the database at ``database_url``."""
    from tests.tgi_server import TGIServer

    parts = urlsplit(database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxied = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"))
    redis = RedisServer(tmp / "redis.log")
    redis.start()
    drill = Stack(tmp=tmp, redis=redis, proxy=proxy, tgi=TGIServer().start_in_thread(), database_url=proxied)
    os.environ.setdefault("LLM_READ_TIMEOUT", "3")
    try:
        drill.start_servers()
        yield drill
    finally:
        drill.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    base = urlsplit(args.database_url)
    name = f"faults_drill_{os.getpid()}"
    drill_url = urlunsplit(base._replace(path=f"/{name}"))
    admin(base, f'CREATE DATABASE "{name}"')
    os.environ.update(DATABASE_URL=drill_url, LLM_READ_TIMEOUT="3", GUARDRAILS_PII="off")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True, env=os.environ)
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        from django.contrib.auth import get_user_model

        from chat import services

        user = get_user_model().objects.create_user("drill", password="drill-pw")
        key = services.api_key_create(user=user)[1]
        results = []
        with tempfile.TemporaryDirectory(prefix="faults-") as tmp, stack(Path(tmp), drill_url) as drill:
            for scenario in SCENARIOS:
                drill.start_servers()
                try:
                    results.append(scenario(drill, key))
                except Exception as exc:
                    results.append(Result(scenario.__name__, stuck=1, notes=[f"FAILED: {exc!r}"]))
                print(results[-1].row(), "  ", "; ".join(results[-1].notes), flush=True)
        print()
        print(
            "| fault | replies lost | conversations stuck | review items lost or doubled | s until a new turn works |"
        )
        print("|---|---|---|---|---|")
        for result in results:
            print(result.row())
        for result in results:
            print(f"- {result.fault}: {'; '.join(result.notes)}")
    finally:
        from django.db import connections

        connections.close_all()
        admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin(base: Any, sql: str) -> None:
    import psycopg

    url = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


if __name__ == "__main__":
    main()
