"""With Redis, API keys are cached per process (accounts/services.py); revoking a key or changing
its user must still be refused on the very next request, in this process and in any other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from accounts import services
from accounts.actor import Actor
from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke
from conftest import ApiClient

REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/14",
        "KEY_PREFIX": "tracker-key-cache-tests",
    }
}
ME = "/api/v1/me"
SYSTEM = Actor.system_job("tests")


@pytest.fixture
def redis_cache() -> Iterator[None]:
    with override_settings(CACHES=REDIS_CACHES):
        caches["default"].clear()
        services._api_key_cache.clear()
        yield
        caches["default"].clear()
        services._api_key_cache.clear()


def key_queries(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "accounts_apikey" in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_cached_key_needs_no_query(redis_cache: None, user: Any) -> None:
    _, raw = api_key_create(user=user, name="cached", actor=SYSTEM)
    api = ApiClient(raw)
    assert api.get(ME).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(ME).status_code == 200
    assert key_queries(ctx) == []


@pytest.mark.django_db(transaction=True)
def test_revoked_key_refused_next_request_even_by_a_process_that_cached_it(redis_cache: None, user: Any) -> None:
    key, raw = api_key_create(user=user, name="soon revoked", actor=SYSTEM)
    api = ApiClient(raw)
    assert api.get(ME).status_code == 200
    other_process = dict(services._api_key_cache)  # what another worker still holds
    assert other_process

    api_key_revoke(api_key=key, actor=SYSTEM)
    services._api_key_cache.update(other_process)
    response = api.get(ME)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHORIZED"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["deactivate", "delete_key", "delete_user", "admin_style_save"])
def test_user_or_key_changes_invalidate_other_processes(redis_cache: None, user: Any, change: str) -> None:
    key, raw = api_key_create(user=user, name="k", actor=SYSTEM)
    assert api_key_authenticate(raw) is not None
    other_process = dict(services._api_key_cache)

    if change == "deactivate":
        user.is_active = False
        user.save()
    elif change == "delete_key":
        key.delete()
    elif change == "delete_user":
        user.delete()
    else:  # what the admin's change form does: a full save of the key with revoked_at set
        key.revoked_at = key.created_at
        key.save()
    services._api_key_cache.update(other_process)
    assert api_key_authenticate(raw) is None


@pytest.mark.django_db(transaction=True)
def test_staff_flag_change_reaches_cached_keys(redis_cache: None, staff_user: Any) -> None:
    _, raw = api_key_create(user=staff_user, name="staff", actor=SYSTEM)
    assert api_key_authenticate(raw).user.is_staff
    other_process = dict(services._api_key_cache)
    staff_user.is_staff = False
    staff_user.save()
    services._api_key_cache.update(other_process)
    assert api_key_authenticate(raw).user.is_staff is False


@pytest.mark.django_db(transaction=True)
def test_login_stamp_does_not_invalidate(redis_cache: None, user: Any) -> None:
    _, raw = api_key_create(user=user, name="k", actor=SYSTEM)
    assert api_key_authenticate(raw) is not None
    generation = services.api_key_generation()
    user.save(update_fields=["last_login"])
    assert services.api_key_generation() == generation


@pytest.mark.django_db(transaction=True)
def test_flushed_generation_never_revives_old_entries(redis_cache: None, user: Any) -> None:
    """An evicted or flushed token comes back as a new random value, never as an old one."""
    key, raw = api_key_create(user=user, name="k", actor=SYSTEM)
    assert api_key_authenticate(raw) is not None
    other_process = dict(services._api_key_cache)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=key.created_at)  # behind the ORM's back
    caches["default"].clear()
    services._api_key_cache.update(other_process)
    assert api_key_authenticate(raw) is None


@pytest.mark.django_db
def test_nothing_is_cached_without_redis(user: Any) -> None:
    _, raw = api_key_create(user=user, name="db", actor=SYSTEM)
    assert api_key_authenticate(raw) is not None
    assert services._api_key_cache == {}


@pytest.mark.django_db
def test_cached_requests_get_their_own_instances(redis_cache: None, user: Any) -> None:
    _, raw = api_key_create(user=user, name="k", actor=SYSTEM)
    first = api_key_authenticate(raw)
    first.user.first_name = "changed by request one"
    second = api_key_authenticate(raw)
    assert second is not first and second.user is not first.user
    assert second.user.first_name != "changed by request one"


CHILD = """
import json, os, sys
import django
django.setup()
from accounts.services import api_key_authenticate
for line in sys.stdin:
    key = api_key_authenticate(line.strip())
    print(json.dumps(None if key is None else key.name), flush=True)
"""


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_revocation_reaches_a_separate_process(redis_cache: None, user: Any) -> None:
    """A real second process (like another gunicorn worker) caches the key, then this process
    revokes it: the other process's very next look-up refuses it."""
    key, raw = api_key_create(user=user, name="shared", actor=SYSTEM)
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tracker_project.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": REDIS_CACHES["default"]["LOCATION"],
        "CACHE_KEY_PREFIX": REDIS_CACHES["default"]["KEY_PREFIX"],
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:

        def ask() -> Any:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(raw + "\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        assert ask() == "shared"
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)  # would show a DB read as a write
        assert ask() == "shared"
        key.refresh_from_db()
        assert key.last_used_at is None, "the second look-up should have come from the child's cache"

        api_key_revoke(api_key=key, actor=SYSTEM)
        assert ask() is None
    finally:
        child.kill()
        child.wait(10)
