"""Page hardening: CSP and the usual headers on every page, and sign-in throttling."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from axes.handlers.proxy import AxesProxyHandler
from django.core.cache import cache
from django.test import Client

from chat import throttle

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def clock(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Local-memory cache on a clock the test moves (the lockout expires without sleeping)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sec"}}
    now = [1_000_000.0]
    fake = types.SimpleNamespace(time=lambda: now[0])
    monkeypatch.setattr("django.core.cache.backends.locmem.time", fake)
    monkeypatch.setattr("django.core.cache.backends.base.time", fake)
    monkeypatch.setattr(throttle, "now", lambda: now[0])  # the slowing's clock: the same one
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


def wait_out(clock: list[float]) -> None:
    """Let the longest slowing pass (the failure counts stay)."""
    clock[0] += 31


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
        wait_out(clock)
        assert sign_in(client, "wrong", address=f"10.0.1.{attempt}").status_code == 200
    wait_out(clock)
    assert sign_in(client, PASSWORD, address="10.0.2.1").status_code == 302  # 9 failures: still fine
    client.logout()
    for attempt in range(10):
        wait_out(clock)
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
    client: Client, carol: Any, make_user: Any, clock: list[float]
) -> None:
    for attempt in range(10):
        wait_out(clock)
        sign_in(client, "wrong", username=f"guess{attempt}", address="10.9.9.9")
    assert sign_in(client, PASSWORD, address="10.9.9.9").status_code == 429
    assert sign_in(client, PASSWORD, address="10.9.9.8").status_code == 302  # the account itself is fine


def slowed(response: Any, seconds: int) -> bool:
    unit = "second" if seconds == 1 else "seconds"
    message = f"Too many failed sign-ins: try again in {seconds} {unit}."
    return (
        response.status_code == 429
        and message in response.content.decode()
        and response.headers["Retry-After"] == str(seconds)
    )


@pytest.mark.django_db
def test_after_three_failures_the_next_sign_in_waits_even_with_the_right_password(
    client: Client, carol: Any, clock: list[float], settings: Any
) -> None:
    assert settings.AUTH_SLOW_AFTER == 3
    for _ in range(3):  # no wait before the third failure
        assert sign_in(client, "wrong").status_code == 200

    clock[0] += 0.5
    refused = sign_in(client, PASSWORD)
    assert slowed(refused, 1)  # half a second left, rounded up
    assert "_auth_user_id" not in client.session

    clock[0] += 0.5  # the delay has passed: the refused attempt did not count as a failure
    assert sign_in(client, PASSWORD).status_code == 302
    assert "_auth_user_id" in client.session


@pytest.mark.django_db
def test_the_delay_doubles_with_each_failure_up_to_the_cap_then_the_lock_comes_as_before(
    client: Client, carol: Any, clock: list[float], settings: Any
) -> None:
    assert settings.AUTH_SLOW_MAX_SECONDS == 30
    for _ in range(3):
        assert sign_in(client, "wrong").status_code == 200
    for failures, delay in [(3, 1), (4, 2), (5, 4), (6, 8), (7, 16), (8, 30), (9, 30)]:
        assert slowed(sign_in(client, "wrong"), delay), failures
        clock[0] += delay - 0.5
        assert slowed(sign_in(client, PASSWORD), 1), failures  # not yet
        clock[0] += 0.5
        response = sign_in(client, "wrong")  # the next failure: counted
    assert response.status_code == 429  # the tenth: locked, as before
    assert "15 minutes" in response.content.decode()
    clock[0] += 60  # past any slowing: still locked
    assert "15 minutes" in sign_in(client, PASSWORD).content.decode()


@pytest.mark.django_db
def test_failures_for_the_account_from_many_addresses_slow_it_from_any_address(
    client: Client, carol: Any, clock: list[float]
) -> None:
    for attempt in range(3):
        sign_in(client, "wrong", address=f"10.1.0.{attempt}")
    assert slowed(sign_in(client, PASSWORD, address="10.1.1.1"), 1)
    assert sign_in(client, PASSWORD, username="nobody", address="10.1.1.1").status_code == 200  # others: fine


@pytest.mark.django_db
def test_failures_from_one_address_slow_it_for_every_account(client: Client, carol: Any, clock: list[float]) -> None:
    for attempt in range(4):
        sign_in(client, "wrong", username=f"guess{attempt}", address="10.2.0.1")
        clock[0] += 1  # enough for the third failure's wait, not the fourth's
    assert slowed(sign_in(client, PASSWORD, address="10.2.0.1"), 1)
    assert sign_in(client, PASSWORD, address="10.2.0.2").status_code == 302  # the account itself is fine


@pytest.mark.django_db
def test_the_admin_sign_in_is_slowed_too(client: Client, carol: Any) -> None:
    for _ in range(3):
        client.post("/admin/login/", {"username": "carol", "password": "wrong"}, REMOTE_ADDR="10.3.0.1")
    response = client.post("/admin/login/", {"username": "carol", "password": PASSWORD}, REMOTE_ADDR="10.3.0.1")
    assert slowed(response, 1)
