"""Management commands: ``create_api_key`` and ``ensure_demo_user``."""

from __future__ import annotations

import io
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


async def test_create_api_key_prints_the_key_alone_on_the_last_line_and_it_opens_a_socket(connect):
    out, err = await sync_to_async(run)("create_api_key", "carol", "--create-user")

    key = out.splitlines()[-1]
    assert key == key.strip() and " " not in key and len(key) >= 20, out
    assert "carol" in err  # what happened goes to stderr, so `| tail -n1` is the key alone
    assert await get_user_model().objects.filter(username="carol").aexists()

    ok, client = await connect(key=key)
    assert ok
    assert (await client.request({"type": "ping"}))["type"] == "pong"

    refused, _ = await connect(key=key[:-1] + ("x" if key[-1] != "x" else "y"))
    assert not refused


def test_create_api_key_for_a_missing_user_says_how_to_create_it() -> None:
    with pytest.raises(CommandError, match="--create-user"):
        run("create_api_key", "nobody")


def test_reviewer_flag_grants_the_review_permission_or_says_clearly_why_not(make_user: Any) -> None:
    user = make_user("rita")
    permission = Permission.objects.filter(content_type__app_label="review", codename="review_replies")
    if not permission.exists():
        # The permission comes with the review models; until they exist the flag must not
        # silently hand out a key without the access it promised.
        with pytest.raises(CommandError, match="review permission does not exist"):
            run("create_api_key", "rita", "--reviewer")
        assert not user.api_keys.exists()
        return
    out, _ = run("create_api_key", "rita", "--reviewer")
    assert out.splitlines()[-1]
    user = get_user_model().objects.get(pk=user.pk)  # fresh: permissions are cached per instance
    assert user.has_perm("review.review_replies")


def test_ensure_demo_user_prints_a_password_once_and_it_works(settings: Any) -> None:
    settings.DEMO_USERNAME = "demo"
    out, _ = run("ensure_demo_user")
    password = out.split("with password: ", 1)[1].split()[0]
    assert get_user_model().objects.get(username="demo").check_password(password)

    again, _ = run("ensure_demo_user")
    assert password not in again
    assert "exists" in again and "changepassword demo" in again
