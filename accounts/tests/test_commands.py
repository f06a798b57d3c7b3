"""`manage.py create_api_key USERNAME [--name NAME] [--create-user]`."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from accounts.models import ApiKey, AuditEvent, api_key_hash
from conftest import ApiClient

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue()


def test_prints_the_key_alone_on_the_last_line_and_it_works(user: Any) -> None:
    output = run("alice")

    key = output.rstrip("\n").splitlines()[-1]
    assert key == key.strip() and " " not in key and key.startswith("trk_")
    stored = ApiKey.objects.get(user=user)
    assert stored.key_hash == api_key_hash(key)
    assert stored.name == "command line"
    response = ApiClient(key).get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    event = AuditEvent.objects.get(action="api_key.create")
    assert event.actor_label == "create_api_key command"


def test_name_option(user: Any) -> None:
    run("alice", "--name", "CI robot")
    assert ApiKey.objects.get(user=user).name == "CI robot"


def test_create_user_option() -> None:
    output = run("newbie", "--create-user", "--name", "bootstrap")

    user = get_user_model().objects.get(username="newbie")
    key = output.splitlines()[-1]
    assert ApiClient(key).get("/api/v1/me").json()["username"] == "newbie"
    assert ApiKey.objects.get(user=user).name == "bootstrap"
    assert not user.check_password("")


def test_create_user_option_reuses_an_existing_user(user: Any) -> None:
    run("alice", "--create-user")
    assert get_user_model().objects.filter(username="alice").count() == 1
    assert ApiKey.objects.filter(user=user).count() == 1


def test_unknown_user_without_create_user_is_an_error() -> None:
    with pytest.raises(CommandError, match="--create-user"):
        run("ghost")
    assert not ApiKey.objects.exists()
    assert not get_user_model().objects.filter(username="ghost").exists()


def test_unknown_user_exits_non_zero_with_a_one_line_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "create_api_key", "ghost"]).execute()

    assert exit_info.value.code != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "ghost" in lines[0] and "--create-user" in lines[0]


def test_inactive_user_is_an_error(user: Any) -> None:
    user.is_active = False
    user.save()
    with pytest.raises(CommandError, match="inactive"):
        run("alice")


@pytest.mark.parametrize("username", ["", "   ", "a\x00b", "x" * 151])
def test_invalid_usernames_are_errors(username: str) -> None:
    with pytest.raises(CommandError):
        run(username, "--create-user")
    assert not ApiKey.objects.exists()
