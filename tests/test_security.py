"""Page hardening: CSP and the usual headers on every page, and sign-in throttling."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from axes.handlers.proxy import AxesProxyHandler
from django.core.cache import cache
from django.test import Client

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def clock(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Local-memory cache on a clock the test moves (the lockout expires without sleeping)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sec"}}
    now = [1_000_000.0]
    fake = types.SimpleNamespace(time=lambda: now[0])
    monkeypatch.setattr("django.core.cache.backends.locmem.time", fake)
    monkeypatch.setattr("django.core.cache.backends.base.time", fake)
    cache.clear()
    # django-axes keeps the cache it was built with (Redis under CI): build it on this one.
    AxesProxyHandler.get_implementation(force=True)
    yield now
    AxesProxyHandler.get_implementation(force=True)


@pytest.fixture
def carol(make_user: Any) -> Any:
    user = make_user("carol", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(client: Client, password: str, username: str = "carol", address: str = "10.0.0.1") -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/admin/", "/admin/login/", "/no-such-page/"])
def test_every_page_carries_the_policy_and_the_usual_headers(client: Client, carol: Any, path: str) -> None:
    client.force_login(carol)
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["connect-src"] == "'self' ws://testserver"
    assert "unsafe" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: no HSTS


def test_https_gets_hsts_and_a_wss_connect_source(client: Client, carol: Any) -> None:
    client.force_login(carol)
    response = client.get("/", secure=True)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "wss://testserver" in response.headers["Content-Security-Policy"]


def test_the_chat_page_has_no_inline_script_or_style(client: Client, carol: Any) -> None:
    client.force_login(carol)
    html = client.get("/").content.decode()
    assert " style=" not in html
    for tag in html.split("<script")[1:]:
        head = tag.split(">", 1)[0]
        assert " src=" in head or 'type="application/json"' in head, head


@pytest.mark.django_db
def test_the_tenth_wrong_password_locks_the_account_until_the_lock_expires(
    client: Client, carol: Any, clock: list[float], settings: Any
) -> None:
    assert settings.AUTH_FAILURE_LIMIT == 10
    for attempt in range(9):  # each from another address: the account itself is what is counted
        assert sign_in(client, "wrong", address=f"10.0.1.{attempt}").status_code == 200
    assert sign_in(client, PASSWORD, address="10.0.2.1").status_code == 302  # 9 failures: still fine
    client.logout()
    for attempt in range(10):
        response = sign_in(client, "wrong", address=f"10.0.3.{attempt}")
    assert response.status_code == 429

    locked = sign_in(client, PASSWORD, address="10.0.4.1")  # the right password, refused
    assert locked.status_code == 429
    assert "too many failed" in locked.content.decode().lower() and "15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session

    clock[0] += 14 * 60  # not yet
    assert sign_in(client, PASSWORD, address="10.0.4.2").status_code == 429
    clock[0] += 15 * 60 + 1
    assert sign_in(client, PASSWORD, address="10.0.4.3").status_code == 302


@pytest.mark.django_db
def test_many_failures_from_one_address_lock_that_address_for_every_account(
    client: Client, carol: Any, make_user: Any
) -> None:
    for attempt in range(10):
        sign_in(client, "wrong", username=f"guess{attempt}", address="10.9.9.9")
    assert sign_in(client, PASSWORD, address="10.9.9.9").status_code == 429
    assert sign_in(client, PASSWORD, address="10.9.9.8").status_code == 302  # the account itself is fine
