"""Connection secrets at rest: Fernet with CREDENTIALS_KEYS (first encrypts, all decrypt)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.db import connection as db

from integrations import credentials
from integrations.credentials import CredentialsKeyMissing, CredentialsUnreadable
from integrations.models import Connection

TOKEN = "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.39AsX.LVpxezPwuX5VAIrrbbHMuol7GQxnMeYMN7cj8EoWr78nh1EYn"


def _connection(**fields: Any) -> Connection:
    conn = Connection(platform="asana", label="Team", auth="token", **fields)
    conn.set_secrets({"access_token": TOKEN})
    conn.save()
    return conn


@pytest.mark.django_db
def test_secret_is_stored_encrypted_and_reads_back() -> None:
    conn = _connection()
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets_encrypted FROM integrations_connection WHERE id = %s", [conn.pk])
        (stored,) = cursor.fetchone()
    assert TOKEN not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert Connection.objects.get(pk=conn.pk).access_token == TOKEN


@pytest.mark.django_db
def test_every_key_decrypts_and_the_first_encrypts(settings: Any) -> None:
    old_key = settings.CREDENTIALS_KEYS[0]
    conn = _connection()
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]
    assert Connection.objects.get(pk=conn.pk).access_token == TOKEN
    settings.CREDENTIALS_KEYS = [new_key]
    with pytest.raises(CredentialsUnreadable) as excinfo:
        Connection.objects.get(pk=conn.pk).access_token
    assert TOKEN not in str(excinfo.value)


def test_unknown_secret_names_are_refused() -> None:
    with pytest.raises(ValueError):
        Connection(platform="asana", label="x", auth="token").set_secrets({"password": "x"})


def test_missing_key_outside_debug_is_an_error(settings: Any) -> None:
    settings.CREDENTIALS_KEYS = []
    settings.DEBUG = False
    with pytest.raises(CredentialsKeyMissing):
        credentials.encrypt_text("x")


def test_debug_without_key_derives_one_from_secret_key(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.CREDENTIALS_KEYS = []
    settings.DEBUG = True
    credentials._warn_derived_key.cache_clear()
    token = credentials.encrypt_text("hello")
    assert "derived from SECRET_KEY" in caplog.text
    assert Fernet(credentials.derived_debug_key(settings.SECRET_KEY)).decrypt(token.encode()) == b"hello"


@pytest.mark.django_db
def test_rotate_credentials_key_reencrypts_every_secret_with_the_first_key(settings: Any) -> None:
    from django.core.management import call_command

    from accounts.models import AuditEvent

    old_key = settings.CREDENTIALS_KEYS[0]
    conn = _connection()
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]

    call_command("rotate_credentials_key", stdout=open("/dev/null", "w"))

    settings.CREDENTIALS_KEYS = [new_key]  # the old key can go now
    assert Connection.objects.get(pk=conn.pk).access_token == TOKEN
    (event,) = AuditEvent.objects.filter(action="connection.key_rotation")
    assert event.changes == {"reencrypted": [None, 1]} and TOKEN not in str(event.changes)


@pytest.mark.django_db
def test_rotate_with_the_old_key_missing_fails_with_a_one_line_reason(settings: Any) -> None:
    from django.core.management import CommandError, call_command

    _connection()
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="does not decrypt with any key"):
        call_command("rotate_credentials_key")
