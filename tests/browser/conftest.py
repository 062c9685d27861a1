"""Browser-test harness: the real app under daphne, a scripted TGI server, Debian's Chromium.

* ``app`` (session): a temp SQLite database, ``migrate``, one user, the scripted TGI server
  (in a thread of this process, so tests can queue scripts), and ``daphne config.asgi:application``
  on a free port. The browser reaches daphne only through ``app.proxy``, a small TCP proxy
  that can cut every connection (a network blip) and refuse new ones (an outage) while the
  server, and the turn running in it, carry on.
* ``page``: a fresh browser context, signed in; a screenshot is kept when a test fails.
* ``shot(page, name)``: a screenshot under test-output/screenshots/.

Nothing here sleeps: waits poll a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.servers import daphne
from tests.tgi_server import DEFAULT_WORDS, Script, TGIServer

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
LOGS = OUTPUT / "logs"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
USERNAME = "alice"
PASSWORD = "browser-test-pw-1"
START_TIMEOUT = 60.0
EXPECT_TIMEOUT_MS = 15_000


def expected_text(n_tokens: int) -> str:
    """What the scripted server streams for ``[[tokens:N]]``: N words of its default text."""
    return " ".join(DEFAULT_WORDS[i % len(DEFAULT_WORDS)] for i in range(n_tokens))


class DroppingProxy:
    """A TCP proxy in its own thread: ``drop_all()`` cuts every open connection at once,
    ``refuse`` makes it close new connections as soon as they arrive."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.refuse = False
        self.accepted = 0
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dropping-proxy", daemon=True)

    def start(self) -> DroppingProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.write_eof()

    def drop_all(self) -> int:
        """Abort every proxied connection (both sides, RST); returns how many there were."""

        async def drop() -> int:
            pairs = list(self._pairs)
            for client, upstream in pairs:
                client.transport.abort()
                upstream.transport.abort()
            return len(pairs)

        return asyncio.run_coroutine_threadsafe(drop(), self._loop).result(10)

    def stop(self) -> None:
        self.drop_all()
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@dataclass
class App:
    url: str  # through the proxy: what the browser uses
    direct_url: str
    tgi: TGIServer
    proxy: DroppingProxy
    env: dict[str, str]


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


# Package scope: sync Playwright runs an event loop in this thread while it is open, which
# would break every async test after it; the browser closes when this package is done.
@pytest.fixture(scope="package")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"CI is set but Chromium is missing at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM} (set CHROMIUM_PATH)")
    root = tmp_path_factory.mktemp("browser-app")
    LOGS.mkdir(parents=True, exist_ok=True)
    tgi = TGIServer(default=Script(n_tokens=24, rate=40)).start_in_thread()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
        "LLM_BASE_URL": tgi.url,
        "LLM_API": "chat",
        "DEBUG": "false",
        "CHAT_EVENT_FLUSH_MS": "50",
        "CHAT_RATE_LIMIT_PER_MINUTE": "600",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("REDIS_URL", "CI_DATABASE_URL"):
        env.pop(name, None)
    _manage(env, "migrate", "--noinput")
    _manage(
        env,
        "shell",
        "-c",
        f"from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})",
    )
    try:
        with daphne(env, LOGS / "daphne.log", timeout=START_TIMEOUT) as direct:
            proxy = DroppingProxy(int(direct.rsplit(":", 1)[1])).start()
            try:
                yield App(url=f"http://127.0.0.1:{proxy.port}", direct_url=direct, tgi=tgi, proxy=proxy, env=env)
            finally:
                proxy.stop()
    finally:
        tgi.stop_thread()


@pytest.fixture(scope="package")
def browser(app: App) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def signed_in_state(app: App, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Cookies of a signed-in session, made once through the real login form."""
    context = browser.new_context(base_url=app.url)
    page = context.new_page()
    sign_in(page)
    path = tmp_path_factory.mktemp("auth") / "state.json"
    context.storage_state(path=str(path))
    context.close()
    return str(path)


def sign_in(page: Any) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#app")).to_have_attribute("data-connection", "open", timeout=EXPECT_TIMEOUT_MS)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _new_page(browser: Any, app: App, request: pytest.FixtureRequest, **context_args: Any) -> Iterator[Any]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    context = browser.new_context(base_url=app.url, **context_args)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()
    app.proxy.refuse = False
    with app.tgi._lock:  # a failed test must not leave its scripts to the next one
        app.tgi._queue.clear()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser: Any, app: App, signed_in_state: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A signed-in page on a new, empty conversation."""
    desktop = {"width": 1280, "height": 820}
    for page in _new_page(browser, app, request, storage_state=signed_in_state, viewport=desktop):
        page.goto("/")
        expect(page.locator("#app")).to_have_attribute("data-connection", "open")
        yield page


@pytest.fixture
def anonymous_page(browser: Any, app: App, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from _new_page(browser, app, request, viewport={"width": 1280, "height": 820})


@pytest.fixture
def phone_page(browser: Any, app: App, signed_in_state: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    for page in _new_page(
        browser,
        app,
        request,
        storage_state=signed_in_state,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ):
        page.goto("/")
        yield page


@pytest.fixture
def shot() -> Callable[..., None]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str, **kwargs: Any) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled", caret="hide", **kwargs)

    return take
